"""AsyncAPI 3.0 documents of every service, generated from the code: FastStream describes the
subscriptions and declared publications; the payloads come from each intake's event models.

    python -m ops.asyncapi          # rewrite docs/asyncapi/<service>.json
"""

import importlib
import json
import sys
from typing import Any

from faststream.specification import AsyncAPI

from ops.run import SERVICES_DIR, discover_services
from shared.service import Service

DOCS = SERVICES_DIR.parent / "docs" / "asyncapi"
VERSION = "1.0.0"


def build_service(module: str) -> Service:
    app = importlib.import_module(f"services.{module}.app")
    settings = app.Settings(kafka_bootstrap_servers="kafka:9092", http_api=False)  # the document covers Kafka only
    service = app.build(settings)
    service.subscribe()
    return service


def document(service: Service) -> dict[str, Any]:
    description = (sys.modules[f"services.{service.name.replace('-', '_')}"].__doc__ or "").strip()
    spec = AsyncAPI(service.broker, title=service.name, version=VERSION, description=description,
                    schema_version="3.0.0")
    document = json.loads(spec.to_specification().to_json())
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for intake in service.intakes:
        message = document["components"]["messages"][f"{service.name}:{intake.topic.name}:SubscribeMessage"]
        payload = intake.events.json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(payload.pop("$defs", {}))
        name = f"{service.name}:{intake.topic.name}:Payload"
        schemas[name] = payload
        message["payload"] = {"$ref": f"#/components/schemas/{name}"}
    schemas.pop("EmptyPayload", None)
    return document


def render(module: str) -> str:
    return json.dumps(document(build_service(module)), indent=2, sort_keys=True) + "\n"


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for module in discover_services():
        path = DOCS / f"{module.replace('_', '-')}.json"
        path.write_text(render(module))
        print(f"wrote {path.relative_to(SERVICES_DIR.parent)}")


if __name__ == "__main__":
    main()
