"""The investigator's casebook signature and the data locks (issue 14), as pages.

* ``/participants/{pid}/sign``: the meaning of the signature (from the protocol), the signer's
  printed name, the password again (and the authenticator code when the account has one);
  a wrong password is refused next to its field and nothing is signed (21 CFR 11.50, 11.200).
* ``/locks``: the study lock, participant and form locks with who/when/why; investigators and
  administrators lock, administrators unlock with a reason. The same services as the API and
  `trialdesk lock`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import get_participant
from trialdesk.services.actor import Permission
from trialdesk.services.errors import ServiceError
from trialdesk.services.locks import (
    list_locks,
    lock_form,
    lock_participant,
    lock_study,
    lockable_participant,
    unlock,
)
from trialdesk.services.record_grid import form_label
from trialdesk.services.signoff import sign_casebook, signature_state, signing_form
from trialdesk.services.study import current_protocol
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.forms import FormInput, read_form
from trialdesk.web.readonly import refusal
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)
LOCK_LABELS = {
    "study_id": "Participant (study id)",
    "visit_code": "Visit",
    "form": "Form",
    "reason": "Reason",
    "study_reason": "Reason for the study lock",
}


def sign_page(
    request: Request,
    session: DB,
    user: WebUser,
    pid: int,
    errors: dict[str, str] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    participant = get_participant(session, user.actor, pid)
    read_only = refusal(user, Permission.SIGN)
    return render(
        request,
        "sign.html",
        {
            "participant": participant,
            "state": signature_state(session, user.actor, pid),
            "form": None if read_only else signing_form(session, user.actor, pid),
            "read_only": read_only,
            "errors": errors or {},
            "values": {},
            "labels": {"password": "Password", "code": "Authenticator code"},
        },
        status_code=status_code,
    )


@router.get("/participants/{pid}/sign")
def sign_get(request: Request, session: DB, user: CurrentUser, pid: int) -> Response:
    return sign_page(request, session, user, pid)


@router.post("/participants/{pid}/sign")
async def sign_post(request: Request, session: DB, user: CurrentUser, pid: int) -> Response:
    form = await read_form(request)
    password = form.values.get("password", "")
    if not password:
        form.errors["password"] = "enter your password to sign (21 CFR 11.200)"
    if not form.errors:
        try:
            sign_casebook(
                session, user.actor, pid, password=password, code=form.values.get("code") or None
            )
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.errors["code" if exc.rule == "signature_code" else "password"] = exc.message
        else:
            target = with_note(request, f"/participants/{pid}", "Casebook signed.")
            return RedirectResponse(target, status_code=303)
    return sign_page(request, session, user, pid, form.errors, status_code=422)


def locks_page(
    request: Request,
    session: DB,
    user: WebUser,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    protocol = current_protocol(session)
    forms = sorted({(v.code, v.name, f) for v in protocol.schedule for f in v.forms})
    locks = list_locks(session, user.actor)
    labels = LOCK_LABELS | {f"unlock_reason_{x.id}": "Reason for unlocking" for x in locks}
    return render(
        request,
        "locks.html",
        {
            "labels": labels,
            "locks": locks,
            "may_lock": user.can(Permission.LOCK_DATA.value),
            "may_unlock": user.can(Permission.UNLOCK_DATA.value),
            "lock_refusal": refusal(user, Permission.LOCK_DATA),
            "visits": [(v.code, v.name) for v in protocol.schedule],
            "forms": sorted({(f, form_label(f)) for _c, _n, f in forms}, key=lambda x: x[1]),
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/locks")
def locks_get(request: Request, session: DB, user: CurrentUser) -> Response:
    return locks_page(request, session, user, values=dict(request.query_params))


async def _lock_action(
    request: Request,
    session: DB,
    user: WebUser,
    form: FormInput,
    call: object,
    *,
    note: str,
    fields: dict[str, str] | None = None,
) -> Response:
    if not form.errors:
        try:
            assert callable(call)
            call()
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            mapping = fields or {"participant_id": "study_id", "scope": "study_id"}
            form.refused(exc, mapping, "reason")
        else:
            return RedirectResponse(with_note(request, "/locks", note), status_code=303)
    return locks_page(request, session, user, form.values, form.errors, status_code=422)


@router.post("/locks/study")
async def lock_study_post(request: Request, session: DB, user: CurrentUser) -> Response:
    form = await read_form(request)
    reason = form.text("study_reason", required=True) or ""
    return await _lock_action(
        request, session, user, form,
        lambda: lock_study(session, user.actor, reason=reason), note="Study database locked.",
        fields={"reason": "study_reason", "scope": "study_reason"},
    )  # fmt: skip


@router.post("/locks/participant")
async def lock_participant_post(request: Request, session: DB, user: CurrentUser) -> Response:
    form = await read_form(request)
    study_id = form.text("study_id", required=True, max_length=20) or ""
    reason = form.text("reason", required=True) or ""
    visit_code = form.values.get("visit_code", "")
    form_name = form.values.get("form", "")

    def act() -> None:
        pid = lockable_participant(session, user.actor, study_id)
        if visit_code or form_name:
            lock_form(
                session, user.actor, pid, visit_code=visit_code, form=form_name, reason=reason
            )
        else:
            lock_participant(session, user.actor, pid, reason=reason)

    return await _lock_action(request, session, user, form, act, note="Locked.")


@router.post("/locks/{lock_id}/unlock")
async def unlock_post(request: Request, session: DB, user: CurrentUser, lock_id: int) -> Response:
    form = await read_form(request)
    reason = form.text("unlock_reason", required=True) or ""
    if form.errors:
        form.errors[f"unlock_reason_{lock_id}"] = form.errors.pop("unlock_reason")
    return await _lock_action(
        request, session, user, form,
        lambda: unlock(session, user.actor, lock_id, reason=reason), note="Unlocked.",
        fields={"reason": f"unlock_reason_{lock_id}", "lock_id": f"unlock_reason_{lock_id}"},
    )  # fmt: skip
