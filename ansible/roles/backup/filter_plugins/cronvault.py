# The backup role's program logic, as filters: what each job's schedule is (jittered when it has
# none), what ansible.builtin.cron is given per job, which retention strings to check, and which
# jobs the alert rules must know. Plain Python, so test/fixtures/ansible/test_cronvault_filters.py
# tests it without a play; vars/main.yml only calls these.
import random
import re

DEFAULT_CONFIG_FILE = "/etc/cronvault/config.yml"

# ansible.builtin.cron's special_time names; @midnight is cron's alias of @daily, which the
# module does not know by that name.
CRON_SPECIAL_TIMES = {
    "@annually": "annually",
    "@yearly": "yearly",
    "@monthly": "monthly",
    "@weekly": "weekly",
    "@daily": "daily",
    "@midnight": "daily",
    "@hourly": "hourly",
}


def jitter_schedule(host, job_name, hours):
    """A daily time drawn once from random.Random("<host>/<job>"): one slot out of 60 minutes x
    len(hours) hours, minute = slot % 60, hour = hours[slot // 60]. One draw, not one per field:
    two draws from one seed are correlated and leave most slots empty. It is the draw
    `cronvault cron --host` makes (src/python-random.ts), so the role and the CLI agree."""
    hours = list(hours)
    if not hours:
        raise ValueError("backup_jitter_hours is empty: give at least one hour to draw from")
    slot = random.Random(f"{host}/{job_name}").randrange(60 * len(hours))
    return f"{slot % 60} {hours[slot // 60]} * * *"


VERIFY_HOURS = [10, 11, 12, 13, 14, 15]


def cronvault_verify_schedule(host, job_name):
    """The weekly time of a job's `cronvault verify` when it has no verify_schedule: one slot of
    7 days x 6 hours (10:00-15:59, away from the backup hours) x 60 minutes drawn from
    random.Random("<host>/<job>/verify"), as `cronvault cron` draws it (jitteredVerifySchedule)."""
    per_day = len(VERIFY_HOURS) * 60
    slot = random.Random(f"{host}/{job_name}/verify").randrange(7 * per_day)
    in_day = slot % per_day
    return f"{in_day % 60} {VERIFY_HOURS[in_day // 60]} * * {slot // per_day}"


def cronvault_effective_jobs(jobs, host, hours, default_schedule=""):
    """Each job with its effective schedule: its own, else default_schedule, else jittered."""
    return [
        dict(job, schedule=job.get("schedule") or default_schedule or jitter_schedule(host, job["name"], hours))
        for job in jobs
    ]


def _shell_quote(text):
    # shlex.quote, as Ansible's `quote` filter does.
    import shlex

    return shlex.quote(text)


def _cron_entry(name, schedule, command):
    """One ansible.builtin.cron entry: the command, and either `special_time` (a cron macro) or the
    five fields."""
    schedule = str(schedule).strip()
    entry = {"name": name, "schedule": schedule, "command": command}
    if schedule.startswith("@"):
        entry["special_time"] = CRON_SPECIAL_TIMES.get(schedule.lower(), schedule[1:])
    else:
        entry["fields"] = schedule.split()
    return entry


def _config_arg(config_file):
    """-c is passed only when the config is not cronvault's default."""
    return "" if config_file == DEFAULT_CONFIG_FILE else f" -c {_shell_quote(config_file)}"


def cronvault_cron_entries(jobs, bin_dir, config_file):
    """What ansible.builtin.cron is given per job: the command, and either `special_time` (a cron
    macro) or the five fields. -c is passed only when the config is not cronvault's default."""
    return [
        _cron_entry(job["name"], job["schedule"], f"{bin_dir}/cronvault run {job['name']} --quiet{_config_arg(config_file)}")
        for job in jobs
    ]


# The engines `cronvault verify` supports (src/verify/schedule.ts): borg jobs get no verify line.
VERIFIED_ENGINES = ("restic", "duplicati")


def cronvault_verify_cron_entries(jobs, host, bin_dir, config_file, default_engine):
    """One `cronvault verify <job>` entry per job cronvault verifies (restic or duplicati, not
    `verify: false`), named "<job>/verify" (job names hold no slash), at the job's verify_schedule or the weekly time
    cronvault_verify_schedule draws: the lines `cronvault cron` prints."""
    return [
        _cron_entry(
            f"{job['name']}/verify",
            job.get("verify_schedule") or cronvault_verify_schedule(host, job["name"]),
            f"{bin_dir}/cronvault verify {job['name']} --quiet{_config_arg(config_file)}",
        )
        for job in jobs
        if (job.get("engine") or default_engine) in VERIFIED_ENGINES and job.get("verify") is not False
    ]


def prune_schedule(host):
    """The weekly prune time of a host that sets no backup_prune.schedule: one slot out of 7 days
    x 60 minutes drawn from random.Random("<host>/prune"), minute = slot % 60 of hour 5, weekday
    = slot // 60. The draw `cronvault cron --host` makes for a repository without prune.schedule."""
    slot = random.Random(f"{host}/prune").randrange(7 * 60)
    return f"{slot % 60} 5 * * {slot // 60}"


def cronvault_prune_entries(prune, host, bin_dir, config_file, append_only=False, has_jobs=True):
    """The `cronvault prune` cron entry of this host, as a list of zero or one: present when the
    host prunes its repository (backup_prune.host unset or this inventory name, and the
    repository not append-only). One line prunes every repository this host is the pruner of."""
    prune = prune or {}
    if not has_jobs or append_only or (prune.get("host") and prune["host"] != host):
        return []
    entry = cronvault_cron_entries(
        [{"name": "prune", "schedule": prune.get("schedule") or prune_schedule(host)}], bin_dir, config_file
    )[0]
    entry["command"] = entry["command"].replace(" run prune --quiet", " prune --quiet")
    return [entry]


def cronvault_retention_checks(jobs, default_retention, default_engine, default_rounding=""):
    """Distinct (retention string, engine, rounding) triples to check with `cronvault retention
    explain`; map retentions and `none` need no parsing. The rounding is the one cronvault will
    use: the job's retention_rounding, else the config defaults', else refuse."""
    out = []
    for job in jobs:
        retention = job["retention"] if job.get("retention") is not None else default_retention
        if not isinstance(retention, str) or retention.strip().lower() == "none":
            continue
        triple = {
            "retention": retention,
            "engine": job.get("engine") or default_engine,
            "rounding": job.get("retention_rounding") or default_rounding or "refuse",
        }
        if triple not in out:
            out.append(triple)
    return out


def cronvault_alert_jobs(host_names, hostvars):
    """One {host, job, max_age?, severity?} per job of every host that defines backup_jobs in the
    inventory, whether or not it is in the play: a run with --limit rewrites the one rules file
    and must not drop the alerts of the hosts it left out."""
    out = []
    for name in host_names:
        host = hostvars[name]
        if "backup_jobs" not in host:
            continue
        for job in host["backup_jobs"] or []:
            entry = {"host": host.get("backup_alert_host") or name, "job": job["name"]}
            if job.get("alert_max_age"):
                entry["max_age"] = job["alert_max_age"]
            if job.get("alert_severity"):
                entry["severity"] = job["alert_severity"]
            out.append(entry)
    return out


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def cronvault_sd_targets(host_names, hostvars, default_port):
    """A Prometheus file_sd target list: one group per host of host_names that defines
    backup_jobs, target `<backup_alert_host>:<port>` (its node_exporter), labels its
    backup_alert_labels (customer, team...). Prometheus puts them on every series of the host, so
    every alert carries them and Alertmanager can route by them. Bad label names are refused here:
    Prometheus would otherwise reject the whole file and drop every target of it."""
    out = []
    for name in host_names:
        host = hostvars[name]
        if "backup_jobs" not in host:
            continue
        labels = dict(host.get("backup_alert_labels") or {})
        for label, value in labels.items():
            if not LABEL_NAME.match(str(label)) or str(label).startswith("__"):
                raise ValueError(
                    f"backup_alert_labels of {name}: {label!r} is not a Prometheus label name "
                    "(letters, digits and _, not starting with a digit or __)"
                )
            if label in ("instance", "job", "backup", "host"):
                raise ValueError(f"backup_alert_labels of {name}: {label!r} is set by Prometheus or cronvault")
            labels[label] = str(value)
        port = host.get("backup_node_exporter_port") or default_port
        out.append({"targets": [f"{host.get('backup_alert_host') or name}:{port}"], "labels": labels})
    return out


class FilterModule:
    def filters(self):
        return {
            "cronvault_effective_jobs": cronvault_effective_jobs,
            "cronvault_cron_entries": cronvault_cron_entries,
            "cronvault_retention_checks": cronvault_retention_checks,
            "cronvault_alert_jobs": cronvault_alert_jobs,
            "cronvault_verify_schedule": cronvault_verify_schedule,
            "cronvault_verify_cron_entries": cronvault_verify_cron_entries,
            "cronvault_prune_entries": cronvault_prune_entries,
            "cronvault_sd_targets": cronvault_sd_targets,
        }
