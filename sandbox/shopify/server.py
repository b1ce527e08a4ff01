"""HTTP face of the Shopify simulator: `POST /admin/api/{version}/graphql.json` as Shopify serves it
(access token, API version, cost extensions, THROTTLED, injected faults), the JSONL files of bulk
operations (`GET /bulk/{id}.jsonl`, no access token, like Shopify's signed storage URLs), plus
`/control/*` endpoints for the scenario runner and tools.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from sandbox.shopify.api import ShopifyGraphQL
from sandbox.shopify.world import RecordedRequest, ShopifyWorld

WORLD: web.AppKey[ShopifyWorld] = web.AppKey("world", ShopifyWorld)
API: web.AppKey[ShopifyGraphQL] = web.AppKey("api", ShopifyGraphQL)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, separators=(",", ":")))


def _cost(requested: int, actual: int | None, world: ShopifyWorld) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": world.bucket.status(),
        }
    }


async def graphql_endpoint(request: web.Request) -> web.StreamResponse:
    world, api = request.app[WORLD], request.app[API]
    if request.match_info["version"] not in world.api_versions:
        return _json({"errors": "Not Found"}, status=404)
    world.request_count += 1
    body = await request.read()
    record = RecordedRequest(operation=None, body=body)
    world.requests.append(record)
    if request.headers.get("X-Shopify-Access-Token") != world.access_token:
        record.status = 401
        return _json({"errors": INVALID_TOKEN}, status=401)
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        record.status = 400
        return _json({"errors": "Invalid JSON in request body"}, status=400)
    prepared = api.prepare(payload)
    if isinstance(prepared, list):
        record.status = 200
        return _json({"errors": prepared})
    record.operation = prepared.operation_name
    if prepared.is_mutation:
        world.mutation_count += 1
    fault = world.draw_fault()
    apply_first = (
        prepared.is_mutation
        and fault in ("server_error", "timeout")
        and world.rng.random() < world.apply_first_rate
    )

    if fault == "rate_limit" or not world.bucket.try_take(prepared.cost):
        world.throttled_count += 1
        record.status = 200
        return _json(
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": _cost(prepared.cost, None, world),
            }
        )
    if fault == "server_error" and not apply_first:
        world.bucket.refund(prepared.cost)
        status = world.rng.choice((500, 503))
        record.status = status
        return _json(
            {"errors": "Internal Server Error" if status == 500 else "Service Unavailable"}, status=status
        )
    if fault == "timeout" and not apply_first:
        world.bucket.refund(prepared.cost)
        await asyncio.sleep(world.timeout_delay_s)
        record.status = 504
        return _json({"errors": "Gateway Timeout"}, status=504)

    result, actual = await api.execute(prepared)
    world.bucket.refund(prepared.cost - actual)
    if fault == "server_error":  # executed, then the answer is lost: only an idempotent resend is safe
        record.status = 503
        return _json({"errors": "Service Unavailable"}, status=503)
    if fault == "timeout":  # executed, but the answer comes after the client gave up
        await asyncio.sleep(world.timeout_delay_s)
    record.status = 200
    return _json({**result, "extensions": _cost(prepared.cost, actual, world)})


async def bulk_file(request: web.Request) -> web.StreamResponse:
    """A bulk operation's result (`url`) or a failed one's `partialDataUrl` (`{id}-partial.jsonl`)."""
    world = request.app[WORLD]
    name = request.match_info["name"]
    stem, partial = name.removesuffix("-partial"), name.endswith("-partial")
    if world.bulk_download_failures > 0:
        world.bulk_download_failures -= 1
        return web.Response(status=503, text="Service Unavailable")
    data = world.bulk_file(int(stem), partial=partial) if stem.isdigit() else None
    if data is None:
        return web.Response(status=404, text="NoSuchKey: The specified key does not exist.")
    return web.Response(body=data, content_type="application/jsonl")


async def control_adjust(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    body = await request.json()
    try:
        quantity = world.manual_adjust(body["sku"], body["location"], body["name"], int(body["delta"]))
    except (KeyError, ValueError) as e:
        return _json({"error": str(e)}, status=400)
    return _json({"ok": True, "quantity": quantity})


async def control_sale(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    body = await request.json()
    try:
        quantity = world.sale(body["sku"], int(body["quantity"]))
    except (KeyError, ValueError) as e:
        return _json({"error": str(e)}, status=400)
    return _json({"ok": True, "quantity": quantity})


async def control_state(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    return _json({"shopify": world.snapshot(), **world.counters()})


def build_app(world: ShopifyWorld) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[WORLD] = world
    app[API] = ShopifyGraphQL(world)
    app.router.add_post("/admin/api/{version}/graphql.json", graphql_endpoint)
    app.router.add_get("/bulk/{name}.jsonl", bulk_file)
    app.router.add_post("/control/adjust", control_adjust)
    app.router.add_post("/control/sale", control_sale)
    app.router.add_get("/control/state", control_state)

    async def stop_bulk_builds(_app: web.Application) -> None:
        world.cancel_bulk_builds()

    app.on_cleanup.append(stop_bulk_builds)
    return app


async def start(world: ShopifyWorld, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the world; returns the runner (call `await runner.cleanup()`) and the base URL."""
    runner = web.AppRunner(build_app(world), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    base_url = f"http://{host}:{bound_port}"
    world.base_url = world.base_url or base_url
    return runner, base_url
