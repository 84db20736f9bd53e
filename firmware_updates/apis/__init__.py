"""Management API of firmware updates (DESIGN.md 5): releases, update jobs, rollouts, and the
endpoints that show update state: sites with their badges, receivers' firmware statistics."""

from .events import EventViewSet
from .jobs import ActiveJobSerializer, UpdateJobViewSet
from .receivers import ReceiverViewSet
from .releases import ReleaseViewSet
from .rollouts import RolloutViewSet
from .sites import SiteViewSet

__all__ = ["ActiveJobSerializer", "EventViewSet", "ReceiverViewSet", "ReleaseViewSet", "RolloutViewSet", "SiteViewSet",
           "UpdateJobViewSet"]
