"""config.py: the example configuration loads, a bad file is refused with one message that names every
bad field, the environment overrides the file, SKU map CSVs are merged, and secrets stay secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ops import control
from reconciler.config import ConfigError, Rules, Settings, load_settings
from reconciler.models import ShipmentsSource
from sandbox.runner import ScenarioError, validate_rules
from tests.harness import small_scenario

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "recon.example.toml"

MINIMAL = """
ledger_url = "sqlite:///ledger.db"

[[shops]]
name = "main"
domain = "example.myshopify.com"
access_token_env = "T_SHOP_TOKEN"

[[accounts]]
name = "us"
shop = "main"
fba_location = "Amazon FBA US"
lwa_client_id_env = "T_LWA_ID"
lwa_client_secret_env = "T_LWA_SECRET"
refresh_token_env = "T_REFRESH"
"""

SECRET_VALUES = {
    "T_SHOP_TOKEN": "shpat_0123456789abcdef",
    "T_LWA_ID": "amzn1.application-oa2-client.cafe",
    "T_LWA_SECRET": "lwa-secret-do-not-print",
    "T_REFRESH": "Atzr|refresh-do-not-print",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RECON_… variable of the machine running the tests leaks into these."""
    import os

    for name in list(os.environ):
        if name.startswith("RECON_") and name != "RECON_TEST":
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "recon.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- the example -------------------------------------------------------------------------------------


def test_example_config_loads_with_two_accounts_sharing_one_shop() -> None:
    settings = load_settings(EXAMPLE)
    assert [s.name for s in settings.shops] == ["main"]
    assert [(a.name, a.marketplace, a.shop) for a in settings.accounts] == [
        ("us", "US", "main"),
        ("ca", "CA", "main"),
    ]
    assert [a.name for a in settings.accounts_of("main")] == ["us", "ca"]
    us, ca = settings.account("us"), settings.account("ca")
    # The CSV (relative to the file) is merged after the inline overrides.
    assert us.sku_map.resolve("MUG-BLUE-2PK") == ("MUG-BLUE", 2)
    assert us.sku_map.resolve("MUG-BLUE-4PK") == ("MUG-BLUE", 4)
    assert us.sku_map.resolve("CUP-RED-6PK") == ("CUP-RED", 6)
    assert us.sku_map.resolve("UNLISTED") == ("UNLISTED", 1), "equal SKU by default"
    assert ca.sku_map.resolve("LAMP-OAK") == ("LAMP-OAK-CA", 1)
    assert ca.rules.shipments_source is ShipmentsSource.LEDGER
    assert (ca.rules.large_delta_units, ca.rules.large_delta_pct) == (20, 15)
    assert us.rules == Rules(), "the US rules spell out the defaults"
    # Production: real time, the local Temporal, secrets named, never written.
    assert settings.clock.is_real_time
    assert not settings.temporal.tls and settings.temporal.api_key_env is None
    assert us.refresh_token_env != ca.refresh_token_env
    assert "shpat_" not in EXAMPLE.read_text()


def test_example_commented_alternatives_are_valid_when_uncommented(tmp_path: Path) -> None:
    """The Temporal Cloud and PostgreSQL lines are meant to be uncommented: they must then load."""
    text = EXAMPLE.read_text()
    for line in (
        '# ledger_url = "postgresql://',
        '# address = "fba-recon',
        '# namespace = "fba-recon',
        "# tls = true",
        '# api_key_env = "TEMPORAL_API_KEY"',
        '# ui_url = "https://cloud',
        "# secrets_file = ",
        "# removal_auto_receive_days = ",
    ):
        assert line in text, line
        text = text.replace(line, line.removeprefix("# "), 1)
    # Only one of each key may stay: drop the defaults the uncommented lines replace.
    for default in (
        'ledger_url = "sqlite:///fba-reconciler.db"',
        'address = "127.0.0.1:7233"',
        'namespace = "default"',
        'ui_url = "http://127.0.0.1:8233"',
    ):
        text = text.replace(default + "\n", "", 1)
    (tmp_path / "skus.example.csv").write_text((REPO / "skus.example.csv").read_text())
    settings = load_settings(write(tmp_path, text))
    assert settings.ledger_url.startswith("postgresql://")
    assert settings.temporal.tls and settings.temporal.api_key_env == "TEMPORAL_API_KEY"
    assert settings.temporal.address.endswith(".tmprl.cloud:7233")
    assert settings.secrets_file is not None
    assert settings.account("us").rules.removal_auto_receive_days == 21


# --- refusing a bad file -----------------------------------------------------------------------------

BAD = """
ledger_url = "mysql://recon@db/recon"
colour = "blue"

[[shops]]
name = "main"
domain = "example.myshopify.com"
access_token_env = "T_SHOP_TOKEN"

[[accounts]]
name = "us"
marketplace = "ZZ"
shop = "main"
fba_location = "Amazon FBA US"

[accounts.rules]
large_delta_units = -5
shipments_source = "order"

[[accounts]]
name = "ca"
marketplace = "CA"
shop = "secondary"
fba_location = "Amazon FBA CA"
"""


def test_bad_file_is_refused_with_one_error_naming_every_bad_field(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 6 problem(s):"), message
    lines = message.splitlines()[1:]
    assert all(line.startswith("  - ") for line in lines), message
    expected = {
        "colour": "Extra inputs are not permitted",
        "accounts.0.rules.large_delta_units": "greater than or equal to 0",
        "accounts.0.marketplace": "unknown marketplace 'ZZ'",
        "accounts.0.rules.shipments_source": "'orders' or 'ledger'",
        "accounts.1.shop": "'secondary' is not one of the configured shops ['main']",
        "ledger_url": "must be a sqlite:// or postgresql:// URL",
    }
    for where, why in expected.items():
        assert any(line.startswith(f"  - {where}: ") and why in line for line in lines), (where, message)


def test_cross_field_problems_alone_are_named_by_path(tmp_path: Path) -> None:
    """Every field valid: the model-level checks report one line per problem, by path."""
    text = MINIMAL.replace('shop = "main"', 'shop = "other"')
    text += '\n[[shops]]\nname = "main"\ndomain = "x.myshopify.com"\naccess_token_env = "T"\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    lines = str(caught.value).splitlines()
    assert lines[1:] == [
        "  - shops: duplicate shop names",
        "  - accounts.0.shop: 'other' is not one of the configured shops ['main', 'main']",
    ], lines
    assert lines[0].endswith("2 problem(s):"), lines
    assert "access_token_env" not in str(caught.value), "the whole input is not dumped into the message"


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[temporal\naddress = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert "line" in str(caught.value)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nowhere.toml")
    assert "nowhere.toml not found" in str(caught.value)
    assert "RECON_CONFIG" in str(caught.value) and "--config" in str(caught.value)
    # Without a path: $RECON_CONFIG, else ./recon.toml.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file recon\.toml not found"):
        load_settings()
    monkeypatch.setenv("RECON_CONFIG", str(write(tmp_path, MINIMAL, "elsewhere.toml")))
    assert load_settings().accounts[0].name == "us"


# --- environment overrides ---------------------------------------------------------------------------


def test_environment_fills_fields_the_file_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECON_GATE_POLL_SECONDS", "5")
    monkeypatch.setenv("RECON_TEMPORAL__ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("RECON_TEMPORAL__TLS", "true")
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.gate_poll_seconds == 5
    assert settings.temporal.address == "temporal.internal:7233"
    assert settings.temporal.tls is True
    assert settings.temporal.task_queue == "fba-reconciler", "nested: the other keys keep their defaults"


def test_environment_values_are_validated_like_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECON_HTTP_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match=r"http_timeout_s: .*greater than 0"):
        load_settings(write(tmp_path, MINIMAL))


def test_environment_overrides_values_written_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "gate_poll_seconds = 30\n"
        + MINIMAL
        + '\n[temporal]\naddress = "127.0.0.1:7233"\nnamespace = "prod"\n'
    )
    monkeypatch.setenv("RECON_LEDGER_URL", "postgresql://recon@db.internal/recon")
    monkeypatch.setenv("RECON_GATE_POLL_SECONDS", "5")
    monkeypatch.setenv("RECON_TEMPORAL__ADDRESS", "temporal.internal:7233")
    settings = load_settings(write(tmp_path, text))
    assert settings.ledger_url == "postgresql://recon@db.internal/recon"
    assert settings.gate_poll_seconds == 5
    assert settings.temporal.address == "temporal.internal:7233"
    assert settings.temporal.namespace == "prod", "nested: the file's other keys stay"


# --- SKU map CSV -------------------------------------------------------------------------------------


def with_csv(tmp_path: Path, csv_text: str) -> Path:
    (tmp_path / "map.csv").write_text(csv_text)
    text = MINIMAL + (
        'sku_map_csv = "map.csv"\n\n[[accounts.sku_map.overrides]]\nmsku = "INLINE-2PK"\n'
        'shopify_sku = "INLINE"\npack = 2\n'
    )
    return write(tmp_path, text)


def test_sku_map_csv_is_merged_with_packs_and_default_pack_one(tmp_path: Path) -> None:
    path = with_csv(tmp_path, "msku,shopify_sku,pack\nMUG-2PK,MUG,2\nCUP-A,CUP,\n")
    account = load_settings(path).account("us")
    assert account.sku_map.as_dict() == {
        "INLINE-2PK": ("INLINE", 2),
        "MUG-2PK": ("MUG", 2),
        "CUP-A": ("CUP", 1),
    }
    # Without a pack column at all, every pack is 1.
    account = load_settings(with_csv(tmp_path, "msku,shopify_sku\nLAMP-X,LAMP\n")).account("us")
    assert account.sku_map.resolve("LAMP-X") == ("LAMP", 1)


def test_sku_map_csv_is_read_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = with_csv(tmp_path, "msku,shopify_sku,pack\nMUG-2PK,MUG,2\n")
    monkeypatch.chdir(REPO)
    assert load_settings(path).account("us").sku_map.resolve("MUG-2PK") == ("MUG", 2)


def test_sku_map_csv_missing_a_column_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = with_csv(tmp_path, "msku,pack\nMUG-2PK,2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"{tmp_path / 'map.csv'}:1: missing column(s) shopify_sku" in str(caught.value)


@pytest.mark.parametrize("pack", ["0", "-2", "two", "1.5"])
def test_sku_map_csv_with_a_bad_pack_is_refused_naming_file_and_line(tmp_path: Path, pack: str) -> None:
    path = with_csv(tmp_path, f"msku,shopify_sku,pack\nMUG-2PK,MUG,2\nMUG-XPK,MUG,{pack}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{tmp_path / 'map.csv'}:3: bad SKU map row"), str(caught.value)
    assert "MUG-XPK" in str(caught.value)


def test_sku_map_csv_with_an_empty_sku_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = with_csv(tmp_path, "msku,shopify_sku,pack\nMUG-2PK,,2\n")
    with pytest.raises(ConfigError, match=r"map\.csv:2: bad SKU map row"):
        load_settings(path)


def test_missing_sku_map_csv_names_the_field_and_the_path(tmp_path: Path) -> None:
    path = with_csv(tmp_path, "")
    (tmp_path / "map.csv").unlink()
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "accounts.0.sku_map_csv" in str(caught.value) and "map.csv not found" in str(caught.value)


# --- secrets -----------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SHOP_TOKEN", SECRET_VALUES["T_SHOP_TOKEN"])
    settings = load_settings(write(tmp_path, MINIMAL))
    token = settings.secret(settings.shop("main").access_token_env)
    assert isinstance(token, SecretStr)
    assert token.get_secret_value() == SECRET_VALUES["T_SHOP_TOKEN"]


@pytest.mark.parametrize("suffix", [".env", ".toml"])
def test_secrets_come_from_a_secrets_file_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    secrets = tmp_path / f"secrets{suffix}"
    if suffix == ".toml":
        secrets.write_text('T_LWA_SECRET = "from-file"\nT_REFRESH = "refresh-from-file"\n')
    else:
        secrets.write_text('# a comment\nT_LWA_SECRET="from-file"\n\nT_REFRESH = refresh-from-file\n')
    monkeypatch.setenv("T_REFRESH", "refresh-from-env")
    settings = load_settings(write(tmp_path, f'secrets_file = "{secrets}"\n' + MINIMAL))
    assert settings.secret("T_LWA_SECRET").get_secret_value() == "from-file"
    assert settings.secret("T_REFRESH").get_secret_value() == "refresh-from-env"


def test_missing_secret_names_the_variable_and_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_LWA_SECRET", raising=False)
    settings = load_settings(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=r"^secret T_LWA_SECRET is not set in the environment$"):
        settings.secret("T_LWA_SECRET")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("T_REFRESH=present\n")
    settings = load_settings(write(tmp_path, f'secrets_file = "{secrets}"\n' + MINIMAL))
    with pytest.raises(ConfigError) as caught:
        settings.secret("T_LWA_SECRET")
    assert "T_LWA_SECRET" in str(caught.value) and str(secrets) in str(caught.value)
    assert "present" not in str(caught.value), "never another secret's value"


def test_missing_secrets_file_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, f'secrets_file = "{tmp_path / "gone.env"}"\n' + MINIMAL))
    with pytest.raises(ConfigError, match=r"secrets_file: .*gone\.env not found"):
        settings.secret("T_LWA_SECRET")


def test_secret_values_never_appear_in_settings_or_workflow_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEMPORAL_API_KEY", "temporal-api-key-do-not-print")
    settings = load_settings(write(tmp_path, MINIMAL + '\n[temporal]\napi_key_env = "TEMPORAL_API_KEY"\n'))
    secrets = [settings.secret(name) for name in SECRET_VALUES]
    assert [s.get_secret_value() for s in secrets] == list(SECRET_VALUES.values())
    account = settings.account("us")
    shown = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(secrets),
        str(secrets[0]),
        control.cycle_input(settings, account).model_dump_json(),
        control.gate_state(settings, "main").model_dump_json(),
    ]
    for text in shown:
        for value in [*SECRET_VALUES.values(), "temporal-api-key-do-not-print"]:
            assert value not in text
    # Not even the variables' names travel to the workflows: only the worker reads secrets.
    for dumped in shown[5:]:
        assert not any(name in dumped for name in SECRET_VALUES), dumped
    assert json.loads(shown[6])["thresholds"] == {"us": {"units": 50, "pct": 25.0}}


# --- rules (the scenario `config` block) -------------------------------------------------------------


def test_rules_refuse_unknown_keys_with_a_clear_message() -> None:
    with pytest.raises(ValidationError) as caught:
        Rules(large_delta_units=10, large_delta_unit=5)  # type: ignore[call-arg]
    errors = caught.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [(("large_delta_unit",), "extra_forbidden")]


def test_scenario_config_with_an_unknown_key_is_refused_naming_it() -> None:
    scenario = small_scenario([], config={"large_delta_units": 10, "retrun_window_days": 30})
    with pytest.raises(ScenarioError) as caught:
        validate_rules(scenario, "demo.json")
    message = str(caught.value)
    assert "\n" not in message, "one line"
    assert "demo.json: config" in message and "retrun_window_days: Extra inputs are not permitted" in message
    assert validate_rules(small_scenario([], config={"large_delta_units": 10}), "x").large_delta_units == 10


def test_rules_are_frozen_and_validated() -> None:
    with pytest.raises(ValidationError, match="backfill_days"):
        Rules(backfill_days=31)
    with pytest.raises(ValidationError):
        Rules().large_delta_units = 3  # type: ignore[misc]


def test_settings_built_in_code_check_shops_too() -> None:
    with pytest.raises(ValidationError, match=r"accounts\.0\.shop: 'nope'"):
        Settings(
            shops=[{"name": "main", "domain": "x.myshopify.com", "access_token_env": "T"}],
            accounts=[{"name": "us", "shop": "nope", "fba_location": "Amazon FBA US"}],
        )
