"""The screens of Satchel, written once over a database session, a user and a ``Home`` (web/home.py).

``web.app.routes(home)`` gives the Starlette routes; the server mounts them at ``/``
with its home (server/web_home.py), the laptop will serve them over its replica.
Imports only ``crm``.
"""
