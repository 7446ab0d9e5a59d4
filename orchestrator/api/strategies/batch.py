"""Strategies of batch/v1: kube's pkg/registry/batch/<kind>."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("batch", "Job", "jobs", initial_status={}),
    Strategy("batch", "CronJob", "cronjobs", initial_status={}),
)
