"""Who may do what: one list of permission names for the management API and the panel.

Operators act by Django model permission (DESIGN.md 8), granted through three groups that
`core/groups.py` creates after every `migrate`:

============  =========================================================================
group         may
============  =========================================================================
viewers       see everything: receivers, device types, sites and panels, releases,
              update jobs with their history, rollouts, firmware statistics, the events
engineers     viewers + queue a single site for update and cancel an update
managers      engineers + start rollouts ("Update software at all sites"), upload
              releases and mark them current, create receivers, sites and device types,
              change sites (their consent to remote updates too), rotate gateway and
              device tokens
approvers     viewers + approve an update held at a site that asks for approval; a group
              of its own, given on top of another: whoever queues an update (an engineer,
              a manager's rollout) need not be the one who approves it
============  =========================================================================

The names to check (``user.has_perm(NAME)``, ``permission_required(NAME)``):

==========================  ====================================  ===========
constant                    permission                            first group
==========================  ====================================  ===========
VIEW_RECEIVER               receivers.view_receiver               viewers
VIEW_DEVICE_TYPE            sites.view_devicetype                 viewers
VIEW_SITE                   sites.view_site                       viewers
VIEW_DEVICE                 sites.view_device                     viewers
VIEW_RELEASE                firmware_updates.view_release         viewers
VIEW_UPDATE_JOB             firmware_updates.view_updatejob       viewers
VIEW_ROLLOUT                firmware_updates.view_rollout         viewers
VIEW_EVENT                  core.view_event                       viewers
QUEUE_SITE                  firmware_updates.add_updatejob        engineers
CANCEL_UPDATE               firmware_updates.change_updatejob     engineers
START_ROLLOUT               firmware_updates.add_rollout          managers
UPLOAD_RELEASE              firmware_updates.add_release          managers
MARK_RELEASE_CURRENT        firmware_updates.change_release       managers
ADD_RECEIVER                receivers.add_receiver                managers
CHANGE_RECEIVER             receivers.change_receiver             managers
ADD_DEVICE_TYPE             sites.add_devicetype                  managers
CHANGE_DEVICE_TYPE          sites.change_devicetype               managers
ADD_SITE                    sites.add_site (+ sites.add_device)   managers
CHANGE_SITE                 sites.change_site                     managers
CHANGE_DEVICE               sites.change_device                   managers
APPROVE_UPDATE              firmware_updates.approve_updatejob    approvers
==========================  ====================================  ===========

Superusers pass every check. Anonymous requests get 401, signed-in operators without the
permission 403 with the missing capability in words.
"""

from django.utils.translation import gettext, gettext_lazy, gettext_noop
from rest_framework.permissions import BasePermission

VIEW_RECEIVER = "receivers.view_receiver"
VIEW_DEVICE_TYPE = "sites.view_devicetype"
VIEW_SITE = "sites.view_site"
VIEW_DEVICE = "sites.view_device"
VIEW_RELEASE = "firmware_updates.view_release"
VIEW_UPDATE_JOB = "firmware_updates.view_updatejob"
VIEW_ROLLOUT = "firmware_updates.view_rollout"
VIEW_EVENT = "core.view_event"  # the alarm centre's event feed
QUEUE_SITE = "firmware_updates.add_updatejob"
CANCEL_UPDATE = "firmware_updates.change_updatejob"
START_ROLLOUT = "firmware_updates.add_rollout"
UPLOAD_RELEASE = "firmware_updates.add_release"
MARK_RELEASE_CURRENT = "firmware_updates.change_release"
ADD_RECEIVER = "receivers.add_receiver"
CHANGE_RECEIVER = "receivers.change_receiver"
ADD_DEVICE_TYPE = "sites.add_devicetype"
CHANGE_DEVICE_TYPE = "sites.change_devicetype"
ADD_SITE = "sites.add_site"
CHANGE_SITE = "sites.change_site"
ADD_DEVICE = "sites.add_device"
CHANGE_DEVICE = "sites.change_device"
APPROVE_UPDATE = "firmware_updates.approve_updatejob"

VIEW_ALL = (VIEW_RECEIVER, VIEW_DEVICE_TYPE, VIEW_SITE, VIEW_DEVICE, VIEW_RELEASE, VIEW_UPDATE_JOB,
            VIEW_ROLLOUT, VIEW_EVENT)

# The groups' names, as stored; said in the operator's language where shown (gettext).
VIEWERS, ENGINEERS, MANAGERS, APPROVERS = (
    gettext_noop("viewers"), gettext_noop("engineers"), gettext_noop("managers"), gettext_noop("approvers"))
# Each group holds the one before it plus its own; approvers stand beside them (viewers +
# approving), so approving is never a side effect of queueing.
GROUPS: dict[str, frozenset[str]] = {VIEWERS: frozenset(VIEW_ALL)}
GROUPS[ENGINEERS] = GROUPS[VIEWERS] | {QUEUE_SITE, CANCEL_UPDATE}
GROUPS[MANAGERS] = GROUPS[ENGINEERS] | {
    START_ROLLOUT, UPLOAD_RELEASE, MARK_RELEASE_CURRENT, ADD_RECEIVER, CHANGE_RECEIVER,
    ADD_DEVICE_TYPE, CHANGE_DEVICE_TYPE, ADD_SITE, CHANGE_SITE, ADD_DEVICE, CHANGE_DEVICE,
}
GROUPS[APPROVERS] = GROUPS[VIEWERS] | {APPROVE_UPDATE}

# What the operator was refused, in words (the 403 answer says which group grants it).
CAPABILITY = {
    QUEUE_SITE: gettext_noop("queue sites for update"),
    CANCEL_UPDATE: gettext_noop("cancel updates"),
    START_ROLLOUT: gettext_noop("start rollouts"),
    UPLOAD_RELEASE: gettext_noop("upload releases"),
    MARK_RELEASE_CURRENT: gettext_noop("mark releases current"),
    ADD_RECEIVER: gettext_noop("create receivers"),
    CHANGE_RECEIVER: gettext_noop("change receivers"),
    ADD_DEVICE_TYPE: gettext_noop("create device types"),
    CHANGE_DEVICE_TYPE: gettext_noop("change device types"),
    ADD_SITE: gettext_noop("create sites"),
    ADD_DEVICE: gettext_noop("register panels"),
    CHANGE_SITE: gettext_noop("change sites"),
    CHANGE_DEVICE: gettext_noop("change panels"),
    APPROVE_UPDATE: gettext_noop("approve updates"),
}


def granting_group(perm: str) -> str | None:
    return next((name for name, perms in GROUPS.items() if perm in perms), None)


class ActionPermission(BasePermission):
    """Each API view maps its actions to the permissions they need.

    The view sets ``action_permissions = {"list": (VIEW_SITE,), "create": (ADD_SITE,), ...}``;
    ``metadata`` (OPTIONS) needs what ``list`` needs and shows a form only to those who may use it. An action the map does not name is
    refused, so a new endpoint is closed until someone decides who may use it.
    """

    message = gettext_lazy("You do not have permission to do this.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        # The route's own map first: the browsable API and OPTIONS ask "may this user POST
        # here?" with a cloned request while view.action still names the GET action.
        action = (getattr(view, "action_map", None) or {}).get(request.method.lower()) or view.action
        perms = view.action_permissions.get("list" if action == "metadata" else action)
        if perms is None:
            return False
        missing = [perm for perm in perms if not user.has_perm(perm)]
        if missing:
            perm = missing[0]
            what = gettext(CAPABILITY.get(perm, gettext_noop("see this")))
            group = granting_group(perm)
            if group:
                self.message = gettext("Your account may not {what} (permission {perm}, given to the {group} "
                                       "group).").format(what=what, perm=perm, group=gettext(group))
            else:
                self.message = gettext("Your account may not {what} (permission {perm}).").format(what=what, perm=perm)
            return False
        return True
