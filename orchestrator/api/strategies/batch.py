"""Strategies of batch/v1: kube's pkg/registry/batch/<kind>."""

from __future__ import annotations

from orchestrator.api import defaults, validation
from orchestrator.api import field_selectors as fields
from orchestrator.api import table_workloads as workloads
from orchestrator.api.strategy import ALL, Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("batch", "Job", "jobs", categories=ALL, subresources=("status",),
             defaults=defaults.job, validate=validation.job_causes,
             initial_status={}, printer=workloads.JOB, fields=fields.JOB_FIELDS),
    Strategy("batch", "CronJob", "cronjobs", short_names=("cj",), categories=ALL,
             subresources=("status",), defaults=defaults.cron_job,
             validate=validation.cron_job_causes, initial_status={},
             printer=workloads.CRON_JOB),
)
