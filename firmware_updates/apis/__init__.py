"""Management API of firmware updates: releases, update jobs, rollouts (DESIGN.md 5)."""

from .jobs import ActiveJobSerializer, UpdateJobViewSet
from .releases import ReleaseViewSet
from .rollouts import RolloutViewSet

__all__ = ["ActiveJobSerializer", "ReleaseViewSet", "RolloutViewSet", "UpdateJobViewSet"]
