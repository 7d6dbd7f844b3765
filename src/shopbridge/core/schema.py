"""Command line for the published JSON Schema; `make schema` runs
`python -m shopbridge.core.schema > docs/schema/unified-model.schema.json`."""

from __future__ import annotations

from shopbridge.core.json_schema import PUBLIC_MODELS, render_schema, unified_model_json_schema

__all__ = ["PUBLIC_MODELS", "render_schema", "unified_model_json_schema"]

if __name__ == "__main__":
    print(render_schema())
