"""The roles' READMEs against their argument specs: each variables section is what
tools/role_docs.py writes from meta/argument_specs.yml, the specs agree with defaults/main.yml,
and the collection's READMEs point at nothing outside it."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.conftest import REPO

COLLECTION = REPO / "ansible_collections" / "banwatch" / "deploy"
ROLES = ["banwatch_agent", "banwatch_collector", "banwatch_export", "banwatch_policy", "banwatch_push"]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("role_docs", COLLECTION / "tools" / "role_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


role_docs = load_tool()


def entry_points(role: str) -> dict:
    return yaml.safe_load((COLLECTION / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def test_the_tool_finds_every_role():
    assert [path.name for path in role_docs.role_dirs()] == ROLES


def test_every_readme_variables_section_is_what_its_argument_spec_gives():
    assert role_docs.stale() == [], "run: python ansible_collections/banwatch/deploy/tools/role_docs.py"


@pytest.mark.parametrize("role", ROLES)
def test_each_readme_documents_every_variable_with_its_default(role):
    readme = (COLLECTION / "roles" / role / "README.md").read_text()
    for heading in ("## Requirements", "## Role Variables", "## Example Playbook"):
        assert heading in readme
    for name, option in entry_points(role)["main"]["options"].items():
        assert f"#### `{name}`" in readme
        if not option.get("required"):
            assert f"{name}: {role_docs.yaml_value(option['default'])}\n" in readme


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_the_argument_spec_agree(role):
    """Every default is a documented option with the same value; a required option has no default;
    every other entry point takes a subset of main's options, specified the same."""
    defaults = yaml.safe_load((COLLECTION / "roles" / role / "defaults" / "main.yml").read_text())
    specs = entry_points(role)
    main = specs["main"]["options"]
    assert set(defaults) == {name for name, option in main.items() if not option.get("required")}
    assert {name: main[name]["default"] for name in defaults} == defaults
    for name, option in main.items():
        assert name.startswith(f"{role}_") and option.get("description"), name
        assert option.get("required") != ("default" in option), name  # one or the other
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            assert main.get(name) == option, f"{entry}: {name}"


def copy_role(tmp_path: Path, role: str = "banwatch_collector") -> Path:
    collection = tmp_path / "collection"
    shutil.copytree(COLLECTION / "roles" / role, collection / "roles" / role)
    return collection


def test_a_changed_spec_leaves_its_readme_out_of_date_until_rewritten(tmp_path):
    collection = copy_role(tmp_path)
    spec_file = collection / "roles" / "banwatch_collector" / "meta" / "argument_specs.yml"
    spec_file.write_text(spec_file.read_text().replace(
        "description: The inventory group whose hosts ship reports to this collector.",
        "description: The group of the devices that <host> ship to this collector."))
    readme = collection / "roles" / "banwatch_collector" / "README.md"
    assert role_docs.stale(collection) == [readme]
    assert role_docs.main(["--check", "--collection", str(collection)]) == 1
    assert role_docs.main(["--collection", str(collection)]) == 0
    assert role_docs.stale(collection) == []
    assert role_docs.main(["--check", "--collection", str(collection)]) == 0
    text = readme.read_text()
    assert "The group of the devices that `<host>` ship to this collector." in text  # no HTML tag
    assert text.startswith("# banwatch.deploy.banwatch_collector") and "## Example Playbook" in text  # the rest kept


def test_a_hand_edit_inside_the_section_is_out_of_date(tmp_path):
    collection = copy_role(tmp_path)
    readme = collection / "roles" / "banwatch_collector" / "README.md"
    readme.write_text(readme.read_text().replace("```yaml\nbanwatch_collector_user: banwatch-drop\n```",
                                                 "```yaml\nbanwatch_collector_user: someone\n```"))
    assert role_docs.stale(collection) == [readme]


def test_a_readme_without_its_markers_is_an_error_not_a_rewrite(tmp_path, capsys):
    collection = copy_role(tmp_path)
    readme = collection / "roles" / "banwatch_collector" / "README.md"
    readme.write_text(readme.read_text().replace(role_docs.END, ""))
    with pytest.raises(ValueError, match="marker lines"):
        role_docs.stale(collection)
    assert role_docs.main(["--collection", str(collection)]) == 2
    assert "marker lines" in capsys.readouterr().err
    assert role_docs.END not in readme.read_text()


def test_the_collections_readmes_point_at_nothing_outside_it():
    """They are packed into the built collection, and read from the repository's roles/ link."""
    readmes = [COLLECTION / "README.md", COLLECTION / "CHANGELOG.md", COLLECTION / "roles" / "README.md",
               *(COLLECTION / "roles" / role / "README.md" for role in ROLES)]
    for readme in readmes:
        text = readme.read_text()
        assert "../" not in text and "shared/" not in text, readme
        for target in re.findall(r"\]\(([^)#]+)", text):
            assert "://" not in target and (readme.parent / target).resolve().is_relative_to(COLLECTION), target
    assert (REPO / "roles" / "README.md").read_text() == (COLLECTION / "roles" / "README.md").read_text()
