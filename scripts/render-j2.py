#!/usr/bin/python3
"""Render a Jinja2 template with variables from a YAML file, the way Ansible's `template`
module would for our templates, without needing Ansible.

    /usr/bin/python3 scripts/render-j2.py prometheus/rules.yml.j2 prometheus/examples/vars.yml > rules.yml
    /usr/bin/python3 scripts/render-j2.py prometheus/rules.yml.j2 > rules.yml   # all defaults

Same environment settings as the template module's defaults (trim_blocks on, lstrip_blocks
off, trailing newline kept, None rendered as ""), and undefined variables fail loudly unless
the template gives a `| default(...)`, like Ansible's. No Ansible-only filters are available,
so a template that renders here renders under Ansible too.
"""
import sys

import jinja2
import yaml


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: render-j2.py TEMPLATE [VARS.yml]\n")
        return 2
    template_path = argv[1]
    variables = {}
    if len(argv) == 3:
        with open(argv[2], encoding="utf-8") as handle:
            variables = yaml.safe_load(handle) or {}
        if not isinstance(variables, dict):
            sys.stderr.write(f"{argv[2]}: expected a mapping of variables\n")
            return 2
    with open(template_path, encoding="utf-8") as handle:
        source = handle.read()
    env = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: "" if value is None else value,
    )
    try:
        sys.stdout.write(env.from_string(source).render(**variables))
    except jinja2.TemplateError as error:
        sys.stderr.write(f"{template_path}: {type(error).__name__}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
