"""One settings model per function, read from its environment once, at its first invocation.

Each field's alias is the environment variable it comes from. Every missing or invalid variable is
named in one error, so a misconfigured function fails its first invocation saying what to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(RuntimeError):
    """The function's environment is incomplete or invalid."""


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        values = {
            field.alias or name: env[field.alias or name]
            for name, field in cls.model_fields.items()
            if env.get(field.alias or name)
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for detail in exc.errors(include_url=False, include_input=False):
                variable = ".".join(str(part) for part in detail["loc"])
                problems.append(
                    f"environment variable {variable} is not set"
                    if detail["type"] == "missing"
                    else f"environment variable {variable}: {detail['msg']}"
                )
            raise ConfigError(f"{cls.__name__}: " + "; ".join(problems)) from exc
