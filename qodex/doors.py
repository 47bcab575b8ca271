"""Doors: the one function per state change that pages and the API both call (docs/ARCHITECTURE.md).

    @door("project.renamed", scope="project:admin")
    def rename(actor: Actor, project: Project, name: str) -> Project: ...

`@door` asks the one role function (`actor.require(target, scope)`, the target being the door's first
argument after the actor: a project or an organization), checks sudo mode when `sudo=True`, then runs the
body in one transaction. The body validates (raising `Invalid`), writes, and records its audit event.
A door refuses by raising a `Refused`: the API turns it into its error shape, the pages into a 403/404
page, a redirect to the password confirmation, or a form error. Every door lands in `DOORS`, which the
parity test walks: a door without a row there fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.db import transaction


class Refused(Exception):
    """A door said no: `status`, a snake_case `code` and a sentence for people (plus `fields`)."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields


class NotFound(Refused):
    status, code = 404, "not_found"


class Forbidden(Refused):
    status, code = 403, "permission_denied"


class SudoRequired(Refused):
    status, code = 403, "sudo_required"

    def __init__(self, message: str = "", **kwargs):
        super().__init__(
            message or "Confirm your password first (sudo mode), then try again within 30 minutes.", **kwargs
        )


class Invalid(Refused):
    """Bad input: `fields` maps a field name ("" for the whole request) to its messages."""

    status, code = 422, "validation_failed"

    def __init__(self, message: str = "Some fields are not valid.", **kwargs):
        super().__init__(message, **kwargs)

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(message if not name else "Some fields are not valid.", fields={name: [message]})


class Conflict(Refused):
    status, code = 409, "conflict"


@dataclass(frozen=True)
class Door:
    action: str
    scope: str | None
    sudo: bool
    function: Callable[..., Any]


DOORS: dict[str, Door] = {}


def door(action: str, *, scope: str | None, sudo: bool = False):
    """Register `function(actor, target, ...)` as the door for `action` (also its audit action).

    `scope=None` is for doors whose permission is not a role on the target (accepting an invitation,
    creating one's own organization): the body checks what it needs.
    """

    def decorator(function):
        @wraps(function)
        def wrapper(actor, *args, **kwargs):
            if scope is not None:
                actor.require(args[0], scope)  # the project or organization the door acts on
            if sudo:
                actor.require_sudo()
            with transaction.atomic():
                return function(actor, *args, **kwargs)

        key = f"{function.__module__}.{function.__name__}"
        wrapper.door = DOORS[key] = Door(action, scope, sudo, wrapper)
        return wrapper

    return decorator


def show_on_form(form, refusal: Refused, field: str | None = None) -> None:
    """Put a door's refusal on a Django form: under the fields it names (when the form has them), else
    under `field`, else above the form."""
    for name, messages in (refusal.fields or {"": [refusal.message]}).items():
        where = name if name in form.fields else (field if field in form.fields else None)
        for message in messages:
            form.add_error(where, message)


class PageRefusals:
    """Middleware: a refusal a page view did not turn into a form error becomes what a person expects.

    NotFound → the 404 page; Forbidden → the 403 page with its sentence; SudoRequired → the password
    confirmation, coming back to the page; anything else (a conflict, bad input) → the message on the page
    the form was posted from. API requests never get here: ninja's handlers answer them first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from urllib.parse import urlencode

        from django.contrib import messages
        from django.core.exceptions import PermissionDenied
        from django.http import Http404
        from django.shortcuts import redirect
        from django.urls import reverse

        if not isinstance(exception, Refused):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, SudoRequired):
            messages.info(request, "Confirm your password, then make the change again.")
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('accounts:confirm_password')}?{query}")
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.message)
        messages.error(request, exception.message)
        return redirect(request.get_full_path())
