"""What this machine offers: CPUs, memory, disk, GPUs (`nvidia-smi`), and node info."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

MAX_PODS = 110
VERSION = "v1.37.0+daskhub-lite"


@dataclass
class GPU:
    index: int
    name: str
    memory_mib: int


@dataclass
class Host:
    cpu: int
    memory_bytes: int
    disk_bytes: int
    gpus: list[GPU] = field(default_factory=list)


def local_node_name() -> str:
    name = socket.gethostname().split(".")[0].lower()
    ok = name and all(c.isalnum() or c == "-" for c in name) and name[0].isalnum()
    return name if ok else "daskhub-lite"


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def parse_nvidia_smi(output: str) -> list[GPU]:
    """Rows of `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader`."""
    gpus = []
    for row in output.splitlines():
        parts = [p.strip() for p in row.split(",")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        memory = parts[2].split()[0]
        gpus.append(GPU(int(parts[0]), parts[1], int(memory) if memory.isdigit() else 0))
    return gpus


def detect_gpus() -> list[GPU]:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        out = subprocess.run([binary, "--query-gpu=index,name,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


def detect(data_dir: Path) -> Host:
    disk = shutil.disk_usage(data_dir if data_dir.exists() else "/").total
    return Host(cpu=os.cpu_count() or 1, memory_bytes=_memory_bytes(), disk_bytes=disk,
                gpus=detect_gpus())


def gpu_labels(gpus: list[GPU]) -> dict[str, str]:
    if not gpus:
        return {}
    return {"nvidia.com/gpu.product": gpus[0].name.replace(" ", "-"),
            "nvidia.com/gpu.memory": str(gpus[0].memory_mib),
            "nvidia.com/gpu.count": str(len(gpus))}


def capacity(host: Host) -> dict[str, str]:
    out = {"cpu": str(host.cpu), "memory": f"{host.memory_bytes // 1024}Ki",
           "ephemeral-storage": f"{host.disk_bytes // 1024}Ki", "pods": str(MAX_PODS)}
    if host.gpus:
        out["nvidia.com/gpu"] = str(len(host.gpus))
    return out


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname()).hex


def node_info(runtime: str) -> dict[str, str]:
    os_image = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_image = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "machineID": _machine_id(), "systemUUID": _machine_id(), "bootID": _boot_id(),
        "kernelVersion": platform.release(), "osImage": os_image,
        "containerRuntimeVersion": f"{runtime}://daskhub-lite",
        "kubeletVersion": VERSION, "kubeProxyVersion": VERSION,
        "operatingSystem": platform.system().lower(), "architecture": arch,
    }


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
