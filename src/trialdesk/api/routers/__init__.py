"""One APIRouter per entity, mounted under /api/v1 by `create_app` in this order."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
