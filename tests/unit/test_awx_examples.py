# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX objects in examples/awx/: each file has the shape `awx import` reads (awxkit's import_assets), each survey is
one the AWX API takes, the workflow runs the switch only after a smoke test and an approval and the rollback only when
the switch fails, and every variable they set is one the playbook behind it takes, of the type it takes.

What a playbook takes is not listed here: it is what the collection's inputs check (plugins/plugin_utils/_inputs.py, the
first task of every playbook) returns as checked for that playbook, given the values a launch would give. The types,
choices, secrets and defaults a survey must match are read from the roles' argument specs and defaults."""

from __future__ import annotations

import functools
import json
import pathlib
import re

import pytest
import yaml
from ansible.galaxy.dependency_resolution.versioning import meets_requirements
from ansible_collections.bluegreen.core.plugins.plugin_utils import _inputs

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "awx"
PROJECT = EXAMPLES / "project"

# What `awx import` reads at the top level of a file (awxkit.api.pages.api.EXPORTABLE_RESOURCES).
EXPORTABLE = {"users", "organizations", "teams", "credential_types", "credentials", "notification_templates", "projects",
              "inventory", "inventory_sources", "job_templates", "workflow_job_templates", "execution_environments",
              "applications", "schedules"}
# The question types of an AWX survey, and the Python type of each one's default (awx.main.constants.SURVEY_TYPE_MAPPING).
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str, "integer": int,
                "float": (float, int)}
# The survey types that can answer a variable of each argument spec type (a survey answer is one string or number).
ANSWERABLE = {"str": {"text", "textarea", "password", "multiplechoice"}, "path": {"text", "textarea"}, "int": {"integer"},
              "float": {"float", "integer"}, "bool": {"multiplechoice"}}
# The lines AWX takes for a playbook when it scans a project (awx.main.utils.ansible.valid_playbook_re).
AWX_PLAYBOOK_LINE = re.compile(r"^\s*?-?\s*?(?:hosts|(ansible\.builtin\.)?include|(ansible\.builtin\.)?import_playbook):\s*?.*?$")
# What a person answers to the questions that have no default, for the launches below.
ANSWERS = {"bluegreen_app": "shop", "bluegreen_version": "2.4.1", "bluegreen_artifact": "https://ci.example.com/shop-2.4.1.tar.gz"}
# The one variable every playbook publishes for later workflow nodes (docs/awx.md).
RESULT = "bluegreen_result"
PARITY = "bluegreen_parity"


# --------------------------------------------------------------------------- the collection


def _is_int(value: object) -> bool:
    """An integer as JSON has it: not a boolean, which Python counts as one."""
    return isinstance(value, int) and not isinstance(value, bool)


def _yaml(path: pathlib.Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def argument_specs() -> dict:
    """variable -> every option of that name in every entry point of every role's argument spec."""
    options: dict = {}
    for path in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        for entry in (_yaml(path) or {}).get("argument_specs", {}).values():
            for name, option in (entry.get("options") or {}).items():
                options.setdefault(name, []).append(option)
    return options


@functools.cache
def role_defaults() -> dict:
    """variable -> the values the roles' defaults give it, templated ones left out."""
    values: dict = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        for name, value in (_yaml(path) or {}).items():
            if not (isinstance(value, str) and "{{" in value):
                values.setdefault(name, []).append(value)
    return values


def _tasks(tasks: object):
    """Every task of a task list, into its blocks."""
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, dict):
            yield task
            for section in ("block", "rescue", "always"):
                yield from _tasks(task.get(section))


def _task_lists(path: pathlib.Path):
    data = _yaml(path)
    if path.is_relative_to(ROOT / "roles"):
        yield data
        return
    for play in data if isinstance(data, list) else []:
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            yield play.get(section)


def _module_args(task: dict, *modules: str) -> dict | None:
    for module in modules:
        for name in (f"ansible.builtin.{module}", module):
            if isinstance(task.get(name), dict):
                return task[name]
    return None


@functools.cache
def collection_tasks() -> tuple:
    """(path, task) of every task of the collection's playbooks and roles."""
    paths = sorted(ROOT.glob("playbooks/**/*.yml")) + sorted(ROOT.glob("roles/*/tasks/**/*.yml")) + sorted(ROOT.glob("roles/*/handlers/**/*.yml"))
    return tuple((path, task) for path in paths for tasks in _task_lists(path) for task in _tasks(tasks))


@functools.cache
def facts_set() -> dict:
    """variable -> where the collection sets it: a fact, a registered result, a role's vars. An extra variable of that
    name would mask it."""
    found: dict = {}
    for path, task in collection_tasks():
        names = [name for name in _module_args(task, "set_fact") or {} if name != "cacheable"]
        if isinstance(task.get("register"), str):
            names.append(task["register"])
        for name in names:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for path in sorted(ROOT.glob("roles/*/vars/*.yml")):
        for name in _yaml(path) or {}:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.cache
def role_vars_of(playbook: str) -> frozenset:
    """The variables a playbook gives its roles itself (include_role vars). An extra variable of that name would win."""
    names = set()
    for path, task in collection_tasks():
        if path == ROOT / "playbooks" / f"{playbook}.yml" and _module_args(task, "include_role", "import_role") is not None:
            names.update(task.get("vars") or {})
    return frozenset(names)


@functools.cache
def published() -> dict:
    """variable -> where a playbook or role publishes it with set_stats (AWX's artifacts, extra vars of later nodes)."""
    found: dict = {}
    for path, task in collection_tasks():
        for name in (_module_args(task, "set_stats") or {}).get("data") or {}:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


# The workflow relies on the playbooks' contract in docs/awx.md: switch and rollback take bluegreen_version (switch refuses
# a colour without it, rollback does nothing unless it is live).
VERSION_GUARDED = {"switch": {"bluegreen_version"}, "rollback": {"bluegreen_version"}}


def taken(playbook: str, values: dict) -> dict:
    """What the playbook's inputs check returns for a launch with these values: the inputs it takes, checked. Raises the
    check's InputError when the launch would fail before anything changes."""
    return dict(_inputs.check(playbook, values))


# --------------------------------------------------------------------------- the examples


@functools.cache
def json_files() -> dict:
    return {str(path.relative_to(EXAMPLES)): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(EXAMPLES.rglob("*.json"))}


def import_files() -> dict:
    return {name: data for name, data in json_files().items() if "spec" not in data}


def survey_files() -> dict:
    return {name: data for name, data in json_files().items() if "spec" in data}


def assets(kind: str) -> list:
    return [asset for data in import_files().values() for asset in data.get(kind) or []]


def job_templates() -> dict:
    return {asset["name"]: asset for asset in assets("job_templates")}


def workflows() -> dict:
    return {asset["name"]: asset for asset in assets("workflow_job_templates")}


def survey(template: dict) -> list:
    return (template.get("related", {}).get("survey_spec") or {}).get("spec", [])


def extra_vars(text: object) -> dict:
    """A template's extra_vars (YAML or JSON text, as AWX keeps them) or a node's extra_data."""
    value = yaml.safe_load(text) if isinstance(text, str) else text
    return value or {}


def playbook_of(template: dict) -> str | None:
    """The collection playbook a job template's project playbook imports (None if it imports none: a test says why)."""
    path = PROJECT / str(template.get("playbook"))
    plays = _yaml(path) if path.is_file() else None
    if not (isinstance(plays, list) and len(plays) == 1 and isinstance(plays[0], dict)):
        return None
    target = str(plays[0].get("ansible.builtin.import_playbook", ""))
    return target.removeprefix("bluegreen.core.") if target.startswith("bluegreen.core.") else None


def choices(question: dict) -> list:
    value = question.get("choices", [])
    return [line for line in value.splitlines() if line.strip()] if isinstance(value, str) else list(value)


def awx_accepts(question: dict, value: object) -> bool:
    """Whether AWX takes this answer to the question (awx.main.models.mixins._survey_element_validation)."""
    kind = question["type"]
    low, high = question.get("min"), question.get("max")
    low, high = (None if low in ("", None) else low), (None if high in ("", None) else high)
    if kind in ("text", "textarea", "password"):
        size = len(value) if isinstance(value, str) else None
    elif kind == "integer":
        size = value if _is_int(value) else None
    elif kind == "float":
        size = value if type(value) in (int, float) else None
    else:
        return value in choices(question)
    return size is not None and (low is None or size >= low) and (high is None or size <= high)


def answers(questions: list) -> dict:
    """A launch's survey answers: the defaults AWX applies, and a person's answer to each required question without one."""
    values = {}
    for question in questions:
        name = question["variable"]
        if question.get("default") is not None and awx_accepts(question, question["default"]):
            values[name] = question["default"]
        elif question["required"]:
            assert name in ANSWERS, f"add an answer to {name} to ANSWERS"
            assert awx_accepts(question, ANSWERS[name]), f"the survey refuses the answer {ANSWERS[name]!r} to {name}"
            values[name] = ANSWERS[name]
    return values


def node_template(node: dict) -> dict | None:
    key = node.get("unified_job_template")
    return None if key is None else job_templates().get(key.get("name"))


def launches() -> list:
    """Every job the examples launch: (id, playbook, values, the variables the object sets for that playbook alone)."""
    found = []
    for name, template in job_templates().items():
        playbook = playbook_of(template)
        if playbook not in _inputs.PLAYBOOKS:
            continue
        values = extra_vars(template.get("extra_vars")) | answers(survey(template))
        own = set(values)
        if template.get("ask_variables_on_launch"):
            # Launched with the variables a person types in: the answers the playbook takes.
            values = {key: value for key, value in ANSWERS.items() if key in taken(playbook, ANSWERS)} | values
        found.append((name, playbook, values, own))
    for name, workflow in workflows().items():
        workflow_values = extra_vars(workflow.get("extra_vars")) | answers(survey(workflow))
        for node in workflow["related"]["workflow_nodes"]:
            template = node_template(node)
            if template is None or playbook_of(template) not in _inputs.PLAYBOOKS:
                continue
            # As AWX builds the job of a node: the template's vars and survey defaults, the node's vars, then the
            # workflow's vars (survey answers), which reach every node whatever the template prompts for.
            own = extra_vars(template.get("extra_vars")) | {
                q["variable"]: q["default"] for q in survey(template) if q.get("default") is not None and awx_accepts(q, q["default"])}
            own |= extra_vars(node.get("extra_data"))
            found.append((f"{name} / {node['identifier']}", playbook_of(template), own | workflow_values, set(own)))
    return found


LAUNCHES = launches()


def _ids(items: list) -> list:
    return [item[0] for item in items]


# --------------------------------------------------------------------------- shape


def test_every_json_file_is_an_awx_import_or_a_survey():
    assert json_files(), "examples/awx/ holds no JSON"
    for name, data in json_files().items():
        assert isinstance(data, dict), name
        if "spec" not in data:
            assert data and set(data) <= EXPORTABLE, f"{name}: {sorted(set(data) - EXPORTABLE)} is not a kind awx import reads"
    assert job_templates() and workflows()
    assert {"survey_release.json", "survey_rollback.json"} <= set(survey_files())


def _natural_key(key: object, kind: str, where: str) -> dict:
    assert isinstance(key, dict) and key.get("type") == kind, f"{where}: {key!r} is not the natural key of a {kind}"
    return key


def _organization(key: dict, where: str) -> dict:
    organization = key.get("organization")
    assert isinstance(organization, dict) and set(organization) == {"name", "type"} and organization["type"] == "organization", \
        f"{where}: {organization!r} is not the natural key of an organization"
    return organization


def test_job_templates_have_what_awx_import_needs():
    for name, template in job_templates().items():
        key = _natural_key(template.get("natural_key"), "job_template", name)
        assert key["name"] == name
        # AWX gives a job template its project's organization, and finds it again on the next import by that key.
        project = _natural_key(template.get("project"), "project", name)
        assert _organization(key, name) == _organization(project, name), f"{name}: not in its project's organization"
        assert template["job_type"] in ("run", "check"), name
        assert isinstance(template.get("playbook"), str) and template["playbook"], name
        if not template.get("ask_inventory_on_launch"):
            _organization(_natural_key(template.get("inventory"), "inventory", name), name)
        if template.get("execution_environment") is not None:
            _natural_key(template["execution_environment"], "execution_environment", name)
        for credential in template.get("related", {}).get("credentials", []):
            _natural_key(credential, "credential", name)
            _natural_key(credential.get("credential_type"), "credential_type", name)
        assert isinstance(extra_vars(template.get("extra_vars")), dict), f"{name}: extra_vars is not a mapping"
        assert bool(template.get("survey_enabled")) == bool(survey(template)), f"{name}: survey_enabled and its survey disagree"


def test_workflows_have_what_awx_import_needs():
    for name, workflow in workflows().items():
        key = _natural_key(workflow.get("natural_key"), "workflow_job_template", name)
        assert key["name"] == name and workflow.get("organization") == key["organization"]
        _organization(key, name)
        assert bool(workflow.get("survey_enabled")) == bool(survey(workflow)), f"{name}: survey_enabled and its survey disagree"
        nodes = workflow["related"]["workflow_nodes"]
        identifiers = [node["identifier"] for node in nodes]
        assert len(set(identifiers)) == len(identifiers), f"{name}: an identifier is used twice"
        node_keys = []
        for node in nodes:
            where = f"{name} / {node['identifier']}"
            assert node["natural_key"] == {"workflow_job_template": key, "identifier": node["identifier"],
                                           "type": "workflow_job_template_node"}, where
            assert node.get("workflow_job_template", key) == key, where
            node_keys.append(node["natural_key"])
            approval = node["related"].get("create_approval_template")
            if approval is None:
                _natural_key(node.get("unified_job_template"), "job_template", where)
                assert node_template(node) is not None, f"{where}: its job template is not in examples/awx/"
            else:
                # awx export leaves an approval node's template out and writes it here; import creates it from this.
                assert "unified_job_template" not in node, f"{where}: an approval node has no job template"
                assert set(approval) <= {"name", "description", "timeout"} and approval.get("name"), where
                assert _is_int(approval.get("timeout", 0)) and approval.get("timeout", 0) >= 0, where
            assert isinstance(extra_vars(node.get("extra_data")), dict), where
        for node in nodes:
            for link in ("success_nodes", "failure_nodes", "always_nodes"):
                for target in node["related"].get(link, []):
                    assert target in node_keys, f"{name} / {node['identifier']}: {link} names a node not in the workflow"


def _awx_survey_errors(spec: dict) -> list:
    """What the AWX API refuses in a survey (awx.api.views.JobTemplateSurveySpec._validate_spec_data), and what this
    collection asks of one: no blank answer ever reaches a playbook."""
    errors = [f"{field} must be {kind.__name__}" for field, kind in (("name", str), ("description", str), ("spec", list))
              if not isinstance(spec.get(field), kind)]
    if errors or not spec["spec"]:
        return errors or ["spec has no question"]
    seen = set()
    for question in spec["spec"]:
        var = question.get("variable")
        for field, kind in (("type", str), ("question_name", str), ("variable", str), ("required", bool)):
            if not isinstance(question.get(field), kind):
                errors.append(f"{var}: {field} must be {kind.__name__}")
        if var in seen:
            errors.append(f"{var}: asked twice")
        seen.add(var)
        if question.get("type") not in SURVEY_TYPES:
            errors.append(f"{var}: {question.get('type')!r} is not a survey question type")
            continue
        default = question.get("default")
        if default not in (None, "") and not isinstance(default, SURVEY_TYPES[question["type"]]):
            errors.append(f"{var}: its default {default!r} is not of type {question['type']}")
        for bound in ("min", "max"):
            if question.get(bound) is not None and not _is_int(question[bound]):
                errors.append(f"{var}: {bound} must be an integer")
        if question["type"] in ("multiplechoice", "multiselect"):
            if not choices(question):
                errors.append(f"{var}: a {question['type']} question lists its choices")
            # The AWX UI cannot show a choice question without a default (ansible/awx#13640).
            elif default is None or default not in choices(question):
                errors.append(f"{var}: its default must be one of its choices")
        # A blank answer to an optional question reaches the playbook as it stands, and the inputs refuse a null: an
        # optional question has a default; a required text question has a minimum length, so AWX refuses a blank.
        if not question.get("required") and default is None:
            errors.append(f"{var}: an optional question needs a default")
        if question.get("required") and question["type"] in ("text", "textarea", "password") and not (question.get("min") or 0) >= 1:
            errors.append(f"{var}: a required text question needs min 1 or more, or AWX takes a blank answer")
    return errors


def all_surveys() -> list:
    found = list(survey_files().items())
    found += [(f"{name} (survey_spec)", template["related"]["survey_spec"])
              for name, template in (job_templates() | workflows()).items() if survey(template)]
    return found


@pytest.mark.parametrize(("where", "spec"), all_surveys(), ids=_ids(all_surveys()))
def test_survey_is_one_awx_takes(where, spec):
    assert _awx_survey_errors(spec) == []


def test_survey_files_are_the_surveys_the_templates_carry():
    embedded = [template["related"]["survey_spec"] for template in (job_templates() | workflows()).values() if survey(template)]
    for name, data in survey_files().items():
        assert embedded.count(data) == 1, f"{name} is not the survey of exactly one template in examples/awx/"
    for spec in embedded:
        assert spec in survey_files().values(), f"the survey {spec['name']!r} has no file of its own in examples/awx/"


# --------------------------------------------------------------------------- the project


@pytest.mark.parametrize("name", sorted(job_templates()))
def test_job_template_runs_a_project_playbook_that_imports_a_collection_playbook(name):
    template = job_templates()[name]
    path = PROJECT / template["playbook"]
    assert path.is_file(), f"{name}: examples/awx/project/{template['playbook']} does not exist"
    assert any(AWX_PLAYBOOK_LINE.match(line) for line in path.read_text().splitlines()), f"AWX would not list {path.name}"
    playbook = playbook_of(template)
    assert playbook, f"{name}: {path.name} must be one play, - ansible.builtin.import_playbook: bluegreen.core.<playbook>"
    assert (ROOT / "playbooks" / f"{playbook}.yml").is_file(), f"{name}: playbooks/{playbook}.yml does not exist"
    assert playbook in _inputs.PLAYBOOKS, f"{name}: the inputs check knows no playbook {playbook}"


def test_every_project_playbook_has_its_job_template():
    used = {template["playbook"] for template in job_templates().values()}
    assert {path.name for path in PROJECT.glob("*.yml")} == used


def test_project_installs_this_collection():
    requirements = _yaml(PROJECT / "collections" / "requirements.yml")
    wanted = [item for item in requirements["collections"] if item.get("name") == "bluegreen.core"]
    assert len(wanted) == 1, "collections/requirements.yml must name bluegreen.core once"
    version = str(_yaml(ROOT / "galaxy.yml")["version"])
    assert meets_requirements(version, str(wanted[0].get("version", "*"))), f"bluegreen.core {version} does not meet it"


# --------------------------------------------------------------------------- the workflow


def _graph(workflow: dict) -> tuple[dict, list]:
    """identifier -> node, and the links as (parent, kind, child)."""
    nodes = {node["identifier"]: node for node in workflow["related"]["workflow_nodes"]}
    links = [(parent, kind.removesuffix("_nodes"), target["identifier"]) for parent, node in nodes.items()
             for kind in ("success_nodes", "failure_nodes", "always_nodes") for target in node["related"].get(kind, [])]
    return nodes, links


def _reachable(nodes: dict, links: list, removed: set = frozenset(), kinds: set = frozenset({"success", "failure", "always"})) -> set:
    children = {child for _parent, _link, child in links}
    seen, todo = set(), [name for name in nodes if name not in children and name not in removed]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [child for parent, kind, child in links if parent == name and kind in kinds and child not in removed]
    return seen


def _kind(node: dict) -> str:
    template = node_template(node)
    return "approval" if "create_approval_template" in node["related"] else playbook_of(template) if template else "?"


@pytest.mark.parametrize("name", sorted(workflows()))
def test_workflow_switches_only_after_smoke_test_and_approval_and_rolls_back_only_when_the_switch_fails(name):
    nodes, links = _graph(workflows()[name])
    kinds = {identifier: _kind(node) for identifier, node in nodes.items()}
    of = {kind: {identifier for identifier, k in kinds.items() if k == kind} for kind in set(kinds.values())}
    assert of.get("approval"), f"{name} has no approval node"
    assert of.get("switch") and of.get("rollback"), f"{name} has no switch or no rollback node"
    left = set(nodes)
    while left:  # take away the nodes no remaining link leads to, until none is left: else the links loop
        free = {node for node in left if not any(child == node and parent in left for parent, _link, child in links)}
        assert free, f"{name}: the links between {sorted(left)} loop"
        left -= free
    for switch in of["switch"]:
        assert switch in _reachable(nodes, links, kinds={"success"}), f"{name}: {switch} is not reached by successes"
        # Every path to the switch runs a deploy, then a smoke test, then an approval, each one succeeding.
        for gate, before in (("approval", "smoke_test"), ("smoke_test", "deploy")):
            assert switch not in _reachable(nodes, links, removed=of.get(gate, set())), f"{name}: {switch} runs without {gate}"
            for node in of[gate]:
                assert node not in _reachable(nodes, links, removed=of.get(before, set())), f"{name}: {node} runs without {before}"
        ancestors = _upstream(links, switch)
        for parent, kind, child in links:
            if child in ancestors | {switch} and parent in ancestors:
                assert kind == "success", f"{name}: {parent} leads to {switch} on {kind}"
    for rollback in of["rollback"]:
        parents = [(parent, kind) for parent, kind, child in links if child == rollback]
        assert parents and all(parent in of["switch"] and kind == "failure" for parent, kind in parents), \
            f"{name}: {rollback} must run on a switch's failure and on nothing else, got {parents}"


def _upstream(links: list, name: str) -> set:
    """Every node with a path to this one."""
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        for parent, _link, child in links:
            if child == current and parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


# --------------------------------------------------------------------------- variables


@pytest.mark.parametrize(("where", "playbook", "values", "own"), LAUNCHES, ids=_ids(LAUNCHES))
def test_launch_passes_the_inputs_check_and_its_playbook_takes_every_variable_it_sets(where, playbook, values, own):
    try:
        checked = taken(playbook, values)
    except _inputs.InputError as exc:
        pytest.fail(f"{where}: bluegreen.core.{playbook} refuses the launch before it changes anything: {exc}")
    assert sorted(own - set(checked)) == [], f"{where}: bluegreen.core.{playbook} does not take these"


@pytest.mark.parametrize("name", sorted(workflows()))
def test_every_variable_a_workflow_gives_its_nodes_is_taken_by_one(name):
    workflow = workflows()[name]
    values = extra_vars(workflow.get("extra_vars")) | answers(survey(workflow))
    playbooks = {playbook_of(node_template(node)) for node in workflow["related"]["workflow_nodes"] if node_template(node)} & set(_inputs.PLAYBOOKS)
    used = set().union(*(taken(playbook, values) for playbook in playbooks))
    assert sorted(set(values) - used) == [], f"{name}: no node's playbook takes these"


@pytest.mark.parametrize(("where", "playbook", "values", "own"), LAUNCHES, ids=_ids(LAUNCHES))
def test_launch_overrides_nothing_the_collection_sets_itself(where, playbook, values, own):
    # An extra variable (a survey answer, a template's or a node's variable) wins over every other: one named like a
    # variable the playbook gives its roles, or a fact the collection sets, would replace the collection's own value.
    assert sorted(set(values) & role_vars_of(playbook)) == [], f"{where}: bluegreen.core.{playbook} sets these for its roles"
    assert {name: sorted(facts_set()[name]) for name in values if name in facts_set()} == {}, f"{where}: the collection sets these itself"


def test_workflow_gives_every_switch_and_rollback_node_the_version():
    for where, playbook, values, _template in LAUNCHES:
        if " / " in where and playbook in VERSION_GUARDED:
            assert VERSION_GUARDED[playbook] <= set(values), f"{where} is not told which release it acts for"


@pytest.mark.parametrize("name", sorted(workflows()))
def test_workflow_answers_every_required_question_of_its_nodes_templates(name):
    # Inside a workflow AWX asks no template's survey: its answers come from the workflow.
    workflow = workflows()[name]
    values = extra_vars(workflow.get("extra_vars")) | answers(survey(workflow))
    for node in workflow["related"]["workflow_nodes"]:
        template = node_template(node) or {}
        given = values | extra_vars(node.get("extra_data"))
        unanswered = [q["variable"] for q in survey(template) if q["required"] and q["variable"] not in given
                      and not (q.get("default") is not None and awx_accepts(q, q["default"]))]
        assert unanswered == [], f"{name} / {node['identifier']}: nothing answers {unanswered}"


def test_switch_and_rollback_take_the_version():
    nodes = [(where, playbook, values) for where, playbook, values, _template in LAUNCHES if playbook in VERSION_GUARDED]
    assert nodes
    for where, playbook, values in nodes:
        missing = VERSION_GUARDED[playbook] - set(_inputs.check(playbook, values))
        assert not missing, f"{where}: bluegreen.core.{playbook} does not take {sorted(missing)}"


def test_playbooks_publish_bluegreen_result_and_parity_alone_and_they_mask_nothing():
    # AWX gives what a job publishes with set_stats to the later nodes of a workflow as extra variables, which win over
    # the facts and inputs of the same name there.
    # bluegreen_parity is the parity check's finding (docs/parity.md), published beside the result.
    assert set(published()) == {RESULT, PARITY}, f"published: {published()}"
    for name in (RESULT, PARITY):
        for playbook in _inputs.PLAYBOOKS:
            assert name not in _inputs.check(playbook, dict(ANSWERS, **{name: {}})), f"bluegreen.core.{playbook} takes {name}"
            assert name not in role_vars_of(playbook)
        assert name not in argument_specs() and name not in facts_set()
        assert all(name not in (_yaml(path) or {}) for path in ROOT.glob("roles/*/defaults/main.yml"))


def questions() -> list:
    """(id, question, the launches that answer it: (playbook, values))."""
    found = []
    for name, template in (job_templates() | workflows()).items():
        for question in survey(template):
            reach = [(playbook, values) for where, playbook, values, _template in LAUNCHES
                     if (where == name or where.startswith(f"{name} / ")) and question["variable"] in _taken_or_none(playbook, values)]
            found.append((f"{name} / {question['variable']}", question, reach))
    return found


def _taken_or_none(playbook: str, values: dict) -> dict:
    """As taken(), but nothing when the launch fails its check (a test of the launch says why)."""
    try:
        return taken(playbook, values)
    except _inputs.InputError:
        return {}


QUESTIONS = questions()


@pytest.mark.parametrize(("where", "question", "reach"), QUESTIONS, ids=_ids(QUESTIONS))
def test_question_asks_for_the_type_the_roles_take(where, question, reach):
    name = question["variable"]
    specs = argument_specs().get(name)
    assert specs, f"{where}: no role's argument spec documents {name}, so its type cannot be checked"
    for spec in specs:
        kind = spec.get("type", "str")
        if spec.get("choices"):
            assert question["type"] == "multiplechoice", f"{where}: {name} takes one of {spec['choices']}: ask a multiplechoice"
            assert sorted(choices(question)) == sorted(map(str, spec["choices"])), f"{where}: the choices are not {spec['choices']}"
        else:
            assert question["type"] in ANSWERABLE.get(kind, ()), f"{where}: a {kind} cannot be the answer to a {question['type']} question"
    secret = any(spec.get("no_log") for spec in specs)
    assert (question["type"] == "password") == secret, f"{where}: {name} is {'' if secret else 'not '}a secret (no_log)"


@pytest.mark.parametrize(("where", "question", "reach"), QUESTIONS, ids=_ids(QUESTIONS))
def test_question_offers_only_values_the_playbook_takes_with_the_roles_defaults(where, question, reach):
    name = question["variable"]
    assert reach, f"{where}: no launch of this survey passes the inputs check and takes {name} (see the launch tests)"
    offered = list(choices(question))
    if question["type"] in ("integer", "float"):
        offered += [question[bound] for bound in ("min", "max") if question.get(bound) is not None]
    default = question.get("default")
    applied = default is not None and awx_accepts(question, default)
    if applied:
        offered.append(default)
    for value in offered:
        assert awx_accepts(question, value), f"{where}: the survey itself refuses {value!r}"
        for playbook, values in reach:
            try:
                taken(playbook, dict(values, **{name: value}))
            except _inputs.InputError as exc:
                pytest.fail(f"{where}: bluegreen.core.{playbook} refuses the answer {value!r}: {exc}")
    if applied:
        for value in role_defaults().get(name, []):
            assert default == value, f"{where}: its default {default!r} is not the roles' default {value!r}"


def test_no_secret_is_kept_in_plain_variables():
    secrets = {name for name, specs in argument_specs().items() if any(spec.get("no_log") for spec in specs)}
    for name, template in (job_templates() | workflows()).items():
        assert sorted(secrets & set(extra_vars(template.get("extra_vars")))) == [], f"{name}: ask for it in a password question"
        for node in template.get("related", {}).get("workflow_nodes", []):
            assert sorted(secrets & set(extra_vars(node.get("extra_data")))) == [], f"{name} / {node['identifier']}"
