"""The Shopify simulator: `world.py` (state and inventoryAdjustQuantities semantics), `api.py`
(GraphQL over `schema.graphql`, a subset of the real 2026-04 schema), `server.py` (HTTP, faults,
cost bucket). Run it with `python -m sandbox.shopify --scenario FILE`."""
