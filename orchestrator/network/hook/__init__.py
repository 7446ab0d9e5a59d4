"""The start-up hook folder put on pods' PYTHONPATH (see sitecustomize.py here)."""
