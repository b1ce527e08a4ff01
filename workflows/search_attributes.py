"""The custom search attributes the workflows set (registered wherever a server is started)."""

from temporalio.common import SearchAttributeKey

RECON_ACCOUNT = SearchAttributeKey.for_keyword("ReconAccount")
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
SKU = SearchAttributeKey.for_keyword("Sku")
SEARCH_ATTRIBUTES = [RECON_ACCOUNT, CASE_TYPE, CASE_STATE, SKU]
