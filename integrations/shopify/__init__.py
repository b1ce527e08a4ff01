"""Shopify Admin GraphQL: the client (`client.py`), its operations (`graphql/*.graphql`), cost pacing
(`throttle.py`) and typed errors (`errors.py`). Never imports Temporal."""
