#!/usr/bin/python3
"""Checks the deployment files in deploy/ against what docs/DEPLOY.md says
and against the binaries they run.

  tests/deploy/manifests_test.py BUILD_DIR

- Kubernetes: renders both overlays (with `kubectl kustomize` when it is
  installed, and always with the small renderer below) and checks the image,
  the ports, the probes, the database volume and the GPU request.
- Every flag that a manifest, the compose file, a systemd unit or the SLURM
  script passes to forgetlab-server, forgetlab-worker or forgetlab exists in
  that binary (from its --help output).
- The runtime image's Debian packages, with their dependencies, provide every
  shared library the binaries load (deploy/Dockerfile).
- compose.yaml wires TLS and tokens into the server, the workers and the CLI.
- The systemd units pass `systemd-analyze verify` (when it is installed).
"""
import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
BUILD = None  # set from argv
BINARIES = {
    "forgetlab-server": "server/forgetlab-server",
    "forgetlab-worker": "worker/forgetlab-worker",
    "forgetlab": "client/forgetlab",
    "forgetlab-train": "worker/forgetlab-train",
}


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --- a small kustomize: resources, namespace, labels, replicas, JSON patches --

def _pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _apply_op(doc, op):
    parts = _pointer(op["path"])
    parent = doc
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1]
    if op["op"] == "add":
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            else:
                parent.insert(int(last), op["value"])
        else:
            parent[last] = op["value"]
    elif op["op"] == "replace":
        if isinstance(parent, list):
            parent[int(last)] = op["value"]
        else:
            assert last in parent, f"replace of missing {op['path']}"
            parent[last] = op["value"]
    else:
        raise AssertionError(f"unsupported patch op {op['op']}")


def render(folder):
    """The resources of a kustomization folder, as kustomize would build them
    (for the features deploy/k8s uses)."""
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    docs = []
    for r in k.get("resources", []):
        path = os.path.normpath(os.path.join(folder, r))
        docs += render(path) if os.path.isdir(path) else load_all(path)
    docs = copy.deepcopy(docs)
    for d in docs:
        if "namespace" in k and d["kind"] != "Namespace":
            d["metadata"]["namespace"] = k["namespace"]
        for group in k.get("labels", []):
            d["metadata"].setdefault("labels", {}).update(group["pairs"])
    for rep in k.get("replicas", []):
        for d in docs:
            if d["metadata"]["name"] == rep["name"]:
                d["spec"]["replicas"] = rep["count"]
    for patch in k.get("patches", []):
        t = patch["target"]
        for d in docs:
            if d["kind"] == t["kind"] and d["metadata"]["name"] == t["name"]:
                for op in yaml.safe_load(patch["patch"]):
                    _apply_op(d, op)
    return docs


def kubectl_render(folder):
    out = subprocess.run(["kubectl", "kustomize", folder], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name}")


def flag_value(args, name):
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


# --- the binaries' flags ------------------------------------------------------

_FLAGS = {}


def known_flags(binary):
    if binary not in _FLAGS:
        path = os.path.join(BUILD, BINARIES[binary])
        helps = [[path, "--helpfull"]] if binary != "forgetlab" else [
            [path, "--help"], [path, "health", "--help"]]
        text = "".join(subprocess.run(h, capture_output=True, text=True).stdout +
                       subprocess.run(h, capture_output=True, text=True).stderr
                       for h in helps)
        _FLAGS[binary] = set(re.findall(r"--([a-z_]+)", text))
    return _FLAGS[binary]


def check_command(test, argv, where):
    """argv: a command line (list); its binary must know every --flag."""
    binary = os.path.basename(argv[0])
    test.assertIn(binary, BINARIES, f"{where}: unknown program {argv[0]}")
    for a in argv[1:]:
        m = re.match(r"--([a-z_]+)", a)
        if m:
            test.assertIn(m.group(1), known_flags(binary),
                          f"{where}: {binary} has no flag --{m.group(1)}")


class KubernetesTest(unittest.TestCase):
    def overlays(self):
        for name in ("cpu", "gpu"):
            folder = os.path.join(K8S, "overlays", name)
            yield name, "renderer", render(folder)
            if shutil.which("kubectl"):
                yield name, "kubectl", kubectl_render(folder)

    def test_server_statefulset_volume_ports_and_probes(self):
        for overlay, how, docs in self.overlays():
            with self.subTest(overlay=overlay, how=how):
                sts = find(docs, "StatefulSet", "forgetlab-server")
                self.assertEqual(sts["metadata"]["namespace"], "forgetlab")
                spec = sts["spec"]
                self.assertEqual(spec["replicas"], 1)  # it owns the database
                pod = spec["template"]["spec"]
                c = pod["containers"][0]
                self.assertEqual(c["image"], "forgetlab:cpu")
                self.assertEqual(c["args"][0], "forgetlab-server")
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(ports, {"grpc": 50051, "health": 8081, "metrics": 9090})
                self.assertEqual(flag_value(c["args"], "listen"), "0.0.0.0:50051")
                self.assertEqual(flag_value(c["args"], "health_listen"), "0.0.0.0:8081")
                self.assertEqual(flag_value(c["args"], "metrics_listen"), "0.0.0.0:9090")
                for probe in ("readinessProbe", "livenessProbe"):
                    self.assertEqual(c[probe]["grpc"]["port"], 8081, probe)
                # The database is on the claim, which is ReadWriteOnce.
                claim = spec["volumeClaimTemplates"][0]
                self.assertEqual(claim["spec"]["accessModes"], ["ReadWriteOnce"])
                mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
                db = flag_value(c["args"], "db")
                self.assertEqual(os.path.dirname(db), mounts[claim["metadata"]["name"]])
                # TLS and tokens come from the Secrets the docs create.
                secrets = {v["name"]: v["secret"]["secretName"]
                           for v in pod["volumes"] if "secret" in v}
                self.assertEqual(set(secrets.values()), {"forgetlab-tls", "forgetlab-tokens"})
                self.assertTrue(flag_value(c["args"], "tls_cert").startswith(mounts["tls"]))
                self.assertTrue(flag_value(c["args"], "tokens_file").startswith(mounts["tokens"]))
                self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 10)
                check_command(self, c["args"], f"{overlay} server")

                svc = find(docs, "Service", "forgetlab-server")
                self.assertEqual(svc["spec"]["selector"],
                                 {"app.kubernetes.io/name": "forgetlab-server"})
                self.assertEqual(sts["spec"]["template"]["metadata"]["labels"]
                                 ["app.kubernetes.io/name"], "forgetlab-server")
                self.assertEqual({p["port"] for p in svc["spec"]["ports"]}, {50051, 9090})

    def test_workers(self):
        for overlay, how, docs in self.overlays():
            with self.subTest(overlay=overlay, how=how):
                dep = find(docs, "Deployment", "forgetlab-worker")
                pod = dep["spec"]["template"]["spec"]
                c = pod["containers"][0]
                args = c["args"]
                self.assertEqual(args[0], "forgetlab-worker")
                check_command(self, args, f"{overlay} worker")
                self.assertEqual(flag_value(args, "scheduler"), "forgetlab-server:50051")
                self.assertEqual(c["readinessProbe"]["grpc"],
                                 {"port": 8081, "service": "forgetlab.worker"})
                self.assertEqual(c["livenessProbe"]["grpc"], {"port": 8081})
                self.assertEqual(flag_value(args, "health_listen"), "0.0.0.0:8081")
                self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 30)
                mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
                self.assertTrue(flag_value(args, "ca_cert").startswith(mounts["tls"]))
                self.assertTrue(flag_value(args, "token_file").startswith(mounts["token"]))
                limits = c.get("resources", {}).get("limits", {})
                # The worker's default, --slots=auto, is the measured fast
                # choice; it divides the pod's CPU limit (its cgroup quota),
                # so the limit is set and equals what the pod requests.
                self.assertIsNone(flag_value(args, "slots"))
                self.assertIsNone(flag_value(args, "threads"))
                self.assertEqual(str(limits.get("cpu")), str(c["resources"]["requests"]["cpu"]))
                if overlay == "gpu":
                    self.assertEqual(c["image"], "forgetlab:cuda")
                    self.assertEqual(limits.get("nvidia.com/gpu"), 1)
                    self.assertEqual(flag_value(args, "device"), "cuda")
                    self.assertEqual(dep["spec"]["replicas"], 8)
                else:
                    self.assertEqual(c["image"], "forgetlab:cpu")
                    self.assertNotIn("nvidia.com/gpu", limits)
                    self.assertIsNone(flag_value(args, "device"))


class SecretsTest(unittest.TestCase):
    def test_secret_generator_makes_what_the_base_mounts(self):
        with open(os.path.join(K8S, "secrets", "kustomization.yaml")) as f:
            k = yaml.safe_load(f)
        made = {g["name"]: set(g["files"]) for g in k["secretGenerator"]}
        self.assertTrue(k["generatorOptions"]["disableNameSuffixHash"])
        self.assertEqual(k["namespace"], "forgetlab")
        # Every Secret key a pod mounts, and the files make-secrets.sh writes.
        used = {}
        for doc in render(os.path.join(K8S, "overlays", "gpu")):
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for v in pod.get("volumes", []):
                if "secret" in v:
                    keys = {i["key"] for i in v["secret"].get("items", [])}
                    used.setdefault(v["secret"]["secretName"], set()).update(keys)
        for name, keys in used.items():
            self.assertIn(name, made, f"no Secret {name} is generated")
            self.assertLessEqual(keys, made[name], name)
        with open(os.path.join(DEPLOY, "make-secrets.sh")) as f:
            script = f.read()
        for files in made.values():
            for file in files:
                stem = file.split(".")[0]
                self.assertIn(stem, script, f"make-secrets.sh does not make {file}")
        if not shutil.which("kubectl"):
            return
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "secrets")
            shutil.copytree(os.path.join(K8S, "secrets"), folder)
            for files in made.values():
                for file in files:
                    with open(os.path.join(folder, file), "w") as f:
                        f.write("test\n")
            docs = kubectl_render(folder)
            names = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
            self.assertEqual(names, set(made))


class ComposeTest(unittest.TestCase):
    def test_tls_tokens_volume_and_flags(self):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        services = compose["services"]
        server = services["server"]["command"]
        check_command(self, server, "compose server")
        for flag in ("tls_cert", "tls_key", "tokens_file"):
            self.assertTrue(flag_value(server, flag).startswith("/secrets/"), flag)
        self.assertIn("db:/var/lib/forgetlab", services["server"]["volumes"])
        self.assertTrue(flag_value(server, "db").startswith("/var/lib/forgetlab/"))
        worker = services["worker"]["command"]
        check_command(self, worker, "compose worker")
        self.assertEqual(flag_value(worker, "scheduler"), "server:50051")
        self.assertEqual(flag_value(worker, "ca_cert"), "/secrets/ca.pem")
        self.assertEqual(flag_value(worker, "token_file"), "/secrets/worker.token")
        cli = services["cli"]["entrypoint"]
        check_command(self, cli, "compose cli")
        self.assertEqual(flag_value(cli, "token_file"), "/secrets/client.token")
        # make-secrets.sh names the server "server", as workers call it.
        self.assertIn("server", services["secrets"]["command"])
        for name in ("server", "worker"):
            check_command(self, services[name]["healthcheck"]["test"][1:],
                          f"compose {name} healthcheck")


class ScriptsAndUnitsTest(unittest.TestCase):
    def test_systemd_units(self):
        units = os.path.join(DEPLOY, "systemd")
        for name in sorted(os.listdir(units)):
            with open(os.path.join(units, name)) as f:
                text = f.read()
            env = dict(re.findall(r'^Environment="?([A-Z_]+)=(.*?)"?$', text, re.M))
            exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
            expanded = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: env.get(m.group(1), "x"),
                              exec_start)
            check_command(self, shlex.split(expanded), f"systemd {name}")
        if not shutil.which("systemd-analyze"):
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name in sorted(os.listdir(units)):
                with open(os.path.join(units, name)) as f:
                    text = f.read()
                for program in ("forgetlab-server", "forgetlab-worker"):
                    text = text.replace(f"/usr/local/bin/{program}",
                                        os.path.join(BUILD, BINARIES[program]))
                path = os.path.join(tmp, name.replace("@.", "@0."))
                with open(path, "w") as f:
                    f.write(text)
                r = subprocess.run(["systemd-analyze", "verify", path],
                                   capture_output=True, text=True)
                problems = [line for line in (r.stdout + r.stderr).splitlines()
                            if path in line or name in line]
                self.assertEqual(problems, [], f"systemd-analyze verify {name}")

    def test_slurm_script_flags(self):
        with open(os.path.join(DEPLOY, "slurm", "forgetlab-workers.sbatch")) as f:
            text = f.read()
        # The flags the script gives the worker: in args=(...) and on the
        # lines that start it.
        lines = [line for line in text.splitlines()
                 if "args" in line or '"$worker"' in line]
        flags = set(re.findall(r"--([a-z_]+)=", "\n".join(lines)))
        self.assertTrue(flags)
        for flag in flags:
            self.assertIn(flag, known_flags("forgetlab-worker"), f"sbatch: --{flag}")
        for directive in ("--requeue", "--signal=B:TERM@", "--gres=gpu:"):
            self.assertIn(f"#SBATCH {directive}", text)


class DockerfileTest(unittest.TestCase):
    def test_runtime_packages_provide_every_library(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        block = text.split("# runtime-packages-begin", 1)[1].split("# runtime-packages-end")[0]
        listed = set(re.findall(r"\b(lib[a-z0-9.+-]+|zlib1g)\b", block)) - {"lib"}
        self.assertIn("libtorch1.13", listed)
        # Every installed package's dependencies, in one dpkg-query call.
        depends = {}
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n"],
            capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            package, _, deps = line.partition("\t")
            depends[package] = [d.strip().split(" ")[0].split(":")[0]
                                for alternative in deps.split(",")
                                for d in alternative.split("|") if d.strip()]
        closure, todo = set(), list(listed)
        while todo:
            p = todo.pop()
            if p not in closure:
                closure.add(p)
                todo += depends.get(p, [])
        libraries = set()
        for program in ("forgetlab-server", "forgetlab-worker", "forgetlab", "forgetlab-train"):
            out = subprocess.run(["ldd", os.path.join(BUILD, BINARIES[program])],
                                 capture_output=True, text=True, check=True).stdout
            libraries |= {os.path.realpath(lib) for lib in re.findall(r"=> (/\S+)", out)}
        owners = subprocess.run(["dpkg", "-S"] + sorted(libraries),
                                capture_output=True, text=True).stdout
        needed = {line.split(":")[0] for line in owners.splitlines() if ":" in line}
        missing = sorted(needed - closure - {"libc6", "libgcc-s1", "libstdc++6"})
        self.assertEqual(missing, [], "deploy/Dockerfile's runtime stage lacks these")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
