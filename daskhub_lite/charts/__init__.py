"""Chart install command over Helm v4's own engine (PyPI `helm-python-sdk`).

Helm renders, installs and stores releases (Secrets, driver `secret`), so `helm ls` on the same
cluster agrees with `daskhub-lite list`. This package adds what the SDK leaves to the `helm`
binary: chart references (bundled short names, repositories, paths), repository configuration
and search, values files and `--set`, progress while waiting, and Helm-shaped output.
"""
