"""A container's volume mounts at their mountPath, made inside its private mount namespace
without creating anything on the host's filesystem.

Stdlib only: the shim (`python -S shim.py`) loads this file as a sibling module.

Mounts are made shallowest target first (containerd orders a container's mounts the same
way), so /etc/jupyterhub comes before /etc/jupyterhub/secret. For each target:

- it exists: the volume is bind-mounted onto it;
- it lies inside an earlier mount of this container: its mount point is made there, in that
  volume's own folder, as the kubelet and runc do;
- else its deepest existing ancestor (symlinks resolved: /var/run is /run) is covered with a
  tmpfs holding each of the ancestor's entries bind-mounted back (folders recursively, so
  their submounts stay). Every existing path still reaches the host's own files, and what
  the container writes there reaches the host as before; only the new mount points (and
  anything else made right in that ancestor) live in the tmpfs, which only this namespace
  sees. "/" cannot be covered in place (a process's root does not follow a mount on top of
  it), so its copy is built in the container's folder and the shim chroots into it.

An overlayfs over the ancestor would instead send every write below it (into /tmp, /home...)
to its upper layer, hide the ancestor's submounts, and cannot serve "/" or an ancestor that
holds the data dir (the kernel refuses overlapping layers).

Read-only remounts come last, so nested mount points can still be made inside read-only
volumes. Whatever cannot be done in the namespace raises MountError (the container's
StartError); nothing falls back to writing on the host.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Iterable, Mapping

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
# statvfs's ST_NOSUID/ST_NODEV/ST_NOEXEC have the MS_* values: kept when remounting read-only.
_KEPT_ON_REMOUNT = MS_NOSUID | MS_NODEV | MS_NOEXEC

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]


class MountError(Exception):
    """A mount the container's namespace cannot get (reported as the container's StartError)."""


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2) itself: no mount(8), which would also write its own state under /run."""
    def raw(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)
    if _libc.mount(raw(source), raw(target), raw(fstype), flags, raw(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def depth(path: str) -> int:
    return len([part for part in os.path.normpath(path).split("/") if part])


def in_mount_order(mounts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Shallowest target first, otherwise in the order given."""
    return sorted(mounts, key=lambda m: depth(str(m["target"])))


def is_inside(path: str, folder: str) -> bool:
    folder = folder.rstrip("/")
    return path.rstrip("/") == folder or path.startswith(folder + "/")


def enter_private(host_namespace: str) -> None:
    """Refuse to mount in the host's own mount namespace; make every mount here private, so
    nothing made below propagates back to the host."""
    if not host_namespace or os.readlink("/proc/self/ns/mnt") == host_namespace:
        raise MountError("refusing to mount volumes: the container is not in a private mount "
                         "namespace")
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        raise MountError(f"cannot make the container's mounts private: {exc.strerror}") from exc


class MountNamespace:
    """The mounts of one container; `stage_dir` is a folder of its own under the data dir."""

    def __init__(self, stage_dir: str) -> None:
        self.stage_dir = stage_dir
        self.targets: list[str] = []  # real paths mounted so far
        self.private_devices: set[int] = set()  # the tmpfs copies made here
        self.stages = 0

    def apply(self, mounts: Iterable[Mapping[str, Any]]) -> None:
        read_only = []
        for m in in_mount_order(mounts):
            where = self.bind(str(m["source"]), str(m["target"]))
            if m.get("readOnly"):
                read_only.append((where, str(m["target"])))
        for where, target in read_only:
            try:
                keep = os.statvfs(where).f_flag & _KEPT_ON_REMOUNT
                mount(None, where, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
            except OSError as exc:
                raise MountError(f'cannot make "{target}" read-only: {exc.strerror}') from exc

    def bind(self, source: str, target: str) -> str:
        where = os.path.realpath(target)
        if is_inside(where, "/proc"):
            raise MountError(f'error mounting "{source}" to "{target}": "{target}" cannot be '
                             "mounted because it is inside /proc")
        if not os.path.lexists(where):
            self.make_mount_point(where, os.path.isdir(source), source, target)
        try:
            mount(source, where, None, MS_BIND | MS_REC)
        except OSError as exc:
            raise MountError(f'error mounting "{source}" to "{target}": {exc.strerror}') from exc
        self.targets.append(where)
        return where

    def make_mount_point(self, where: str, folder: bool, source: str, target: str) -> None:
        ancestor = os.path.dirname(where)
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise MountError(f'error mounting "{source}" to "{target}": {ancestor} is not a '
                             "directory")
        if not self.is_private(ancestor):
            self.cover(ancestor)
        os.makedirs(where if folder else os.path.dirname(where), mode=0o755, exist_ok=True)
        if not folder:
            os.close(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))

    def is_private(self, folder: str) -> bool:
        """Whether making entries in `folder` stays off the host: a tmpfs copy made here, or
        inside an earlier mount (a volume's own folder)."""
        return (os.stat(folder).st_dev in self.private_devices
                or any(is_inside(folder, t) for t in self.targets))

    def cover(self, folder: str) -> None:
        """A tmpfs with `folder`'s entries bound back, put over `folder` (or made the root)."""
        self.stages += 1
        stage = os.path.join(self.stage_dir, str(self.stages))
        os.makedirs(stage, exist_ok=True)
        info = os.stat(folder)
        try:
            mount("tmpfs", stage, "tmpfs", 0,
                  f"mode={info.st_mode & 0o7777:o},uid={info.st_uid},gid={info.st_gid}")
            # Unbindable while it is filled: the recursive bind of an entry that holds the
            # stage (the data dir may lie below `folder`) must not copy it into itself.
            mount(None, stage, None, MS_UNBINDABLE)
            with os.scandir(folder) as entries:
                for entry in entries:
                    bind_back(entry, os.path.join(stage, entry.name))
            mount(None, stage, None, MS_PRIVATE)
            if folder == "/":
                os.chroot(stage)
                os.chdir("/")
            else:
                mount(stage, folder, None, MS_MOVE)
        except OSError as exc:
            raise MountError(f"cannot make mount points under {folder} in the container's "
                             f"mount namespace: {exc.strerror}") from exc
        self.private_devices.add(os.stat(folder).st_dev)


def bind_back(entry: os.DirEntry[str], copy: str) -> None:
    """`entry` of a covered folder, seen again at `copy` in its tmpfs."""
    try:
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), copy)
            info = entry.stat(follow_symlinks=False)
            os.lchown(copy, info.st_uid, info.st_gid)
            return
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(copy)
        else:
            os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        mount(entry.path, copy, None, MS_BIND | MS_REC)
    except FileNotFoundError:
        pass  # removed on the host while the folder was being copied


def apply(mounts: Iterable[Mapping[str, Any]], stage_dir: str, host_namespace: str) -> None:
    mounts = list(mounts)
    if mounts:
        enter_private(host_namespace)
        MountNamespace(stage_dir).apply(mounts)
