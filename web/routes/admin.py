"""Administration of users and their devices, where the home has it (the server).

The home's ``Administration`` does the work through ``crm.accounts`` and refuses
anyone but an admin; the screens check first as well, so a salesperson who types
the address gets a 403 page and no form. A home without administration (the
laptop) answers 404, as for any address it does not serve.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm.accounts import MIN_PASSWORD_LENGTH
from crm.errors import AlreadyExists, NotFound, PermissionDenied, ValidationFailed
from crm.models import Team, User
from crm.models.enums import Role
from web import i18n
from web.home import Administration, Home
from web.visit import Visit, read_form, signed_in

ROLES = [Role.SALESPERSON.value, Role.MANAGER.value, Role.OFFICE.value, Role.ADMIN.value]
NEW_USER_FIELDS = ("login", "full_name", "role", "team", "email")
LIMITS = {"login": 100, "full_name": 200, "role": 20, "team": 100, "email": 254}


def _admin(home: Home, visit: Visit) -> Administration:
    if home.administration is None:
        raise NotFound("no administration here")
    if visit.user.role != Role.ADMIN:
        raise PermissionDenied("only an administrator manages users")
    return home.administration


def _password_problem(password: str, visit: Visit) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return visit.gettext(i18n.N_("At least %(n)s characters")) % {"n": MIN_PASSWORD_LENGTH}
    if len(password) > 1000:
        return i18n.problem(f"at most 1000 characters; got {len(password)}", visit.gettext)
    return None


def _users_page(
    db: Session,
    visit: Visit,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    admin = _admin(visit.home, visit)
    teams = dict(db.execute(select(col(Team.id), col(Team.name))).all())
    return visit.page(
        db,
        "admin_users.html",
        status_code=status_code,
        users=admin.users(db, visit.user),
        teams=teams,
        roles=ROLES,
        values=values or {"role": Role.SALESPERSON.value},
        errors=errors or {},
    )


async def users(request: Request, home: Home) -> Response:
    return await signed_in(request, home, _users_page)


async def add_user(request: Request, home: Home) -> Response:
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in NEW_USER_FIELDS}
    password = str(form.get("password", ""))

    def work(db: Session, visit: Visit) -> Response:
        admin = _admin(home, visit)
        problems: dict[str, str] = {}
        weak = _password_problem(password, visit)
        if weak:
            problems["password"] = weak
        too_long = {
            name: i18n.problem(
                f"at most {limit} characters; got {len(values[name])}", visit.gettext
            )
            for name, limit in LIMITS.items()
            if len(values[name]) > limit
        }
        if too_long:  # the database's limits, told beside the field rather than failing there
            raise ValidationFailed("user has invalid fields", details={**problems, **too_long})
        try:
            admin.add_user(
                db,
                visit.user,
                login=values["login"],
                full_name=values["full_name"],
                role=values["role"],
                team=values["team"] or None,
                email=values["email"] or None,
                password=password if not weak else "x" * MIN_PASSWORD_LENGTH,
            )
        except AlreadyExists:
            problems["login"] = visit.gettext(i18n.N_("This login is taken"))
        except ValidationFailed as exc:
            details = exc.details if isinstance(exc.details, dict) else {"": exc.message}
            for key, message in details.items():
                problems.setdefault(str(key), i18n.problem(str(message), visit.gettext))
        if problems:
            raise ValidationFailed("user has invalid fields", details=problems)
        return visit.redirect("/admin/users")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except ValidationFailed as exc:
        errors: dict[str, Any] = exc.details if isinstance(exc.details, dict) else {"": exc.message}
        return await signed_in(
            request, home, lambda db, visit: _users_page(db, visit, values, errors, 422)
        )


async def set_active(request: Request, home: Home) -> Response:
    user_id = request.path_params["user_id"]
    form = await read_form(request)
    active = str(form.get("active", "")) == "1"

    def work(db: Session, visit: Visit) -> Response:
        _admin(home, visit).set_active(db, visit.user, user_id, active)
        return visit.redirect(f"/admin/users#user-{user_id}")

    return await signed_in(request, home, work, write=True, form=form)


def _user_page(
    db: Session, visit: Visit, user_id: str, error: str | None = None, status_code: int = 200
) -> Response:
    admin = _admin(visit.home, visit)
    person = db.get(User, user_id)
    if person is None:
        raise NotFound(f"no user {user_id}")
    team = db.get(Team, person.team_id) if person.team_id else None
    return visit.page(
        db,
        "admin_user.html",
        status_code=status_code,
        person=person,
        team=team,
        devices=admin.devices(db, visit.user, user_id),
        password_error=error,
    )


async def user(request: Request, home: Home) -> Response:
    user_id = request.path_params["user_id"]
    return await signed_in(request, home, lambda db, visit: _user_page(db, visit, user_id))


async def set_password(request: Request, home: Home) -> Response:
    user_id = request.path_params["user_id"]
    form = await read_form(request)
    password = str(form.get("password", ""))

    def work(db: Session, visit: Visit) -> Response:
        admin = _admin(home, visit)
        weak = _password_problem(password, visit)
        if weak:
            raise ValidationFailed("weak password", details={"password": weak})
        admin.set_password(db, visit.user, user_id, password)
        # An admin who sets their own password ends their own session too; the sign-in page follows.
        return visit.redirect(f"/admin/users/{user_id}#password")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except ValidationFailed as exc:
        message = (
            str(exc.details.get("password", exc.message))
            if isinstance(exc.details, dict)
            else exc.message
        )
        return await signed_in(
            request, home, lambda db, visit: _user_page(db, visit, user_id, message, 422)
        )


async def revoke_device(request: Request, home: Home) -> Response:
    user_id, device_id = request.path_params["user_id"], request.path_params["device_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        _admin(home, visit).revoke_device(db, visit.user, user_id, device_id)
        return visit.redirect(f"/admin/users/{user_id}#devices")

    return await signed_in(request, home, work, write=True, form=form)
