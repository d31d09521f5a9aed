"""RFC 9457 problem details (application/problem+json) that name fields, never values.

FastAPI's default validation answer echoes each offending input back; a referral's input is
a child's name, date of birth and the narrative of the concern, so ours names the field and
the rule it broke and nothing else.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str  # where, as a dotted path: "subject.date_of_birth", "concerns.0"
    code: str  # the rule broken, pydantic's error type: "missing", "enum", "date_from_datetime_parsing"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None


def problem(status: int, title: str, detail: str | None = None, *,
            errors: list[FieldProblem] | None = None, kind: str = "about:blank",
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(type=kind, title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


def field_problems(errors: list[Any]) -> list[FieldProblem]:
    """Location and error type of each pydantic error, dropping input, message and context
    (all three can quote the value)."""
    found = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:] if loc[0] == "body" else loc
        found.append(FieldProblem(field=".".join(loc) or "(body)", code=str(error.get("type", "invalid"))))
    return found


async def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (a body that is not JSON, an unknown path) as problems too."""
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    return problem(exc.status_code, title, headers=dict(exc.headers or {}))


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(422, "The request is not valid", "Each entry of errors names a field and the rule it breaks.",
                   errors=field_problems(list(exc.errors())), kind="/problems/validation")
