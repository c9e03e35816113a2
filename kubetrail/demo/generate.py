"""A realistic audit log of a small cluster, with an attack woven in.

An hour of what an apiserver of a three-node cluster records: controllers renewing leases and
reconciling, kubelets reporting node status and reading pods, the scheduler binding pods, a CI
bot rolling out deployments, two humans with kubectl (one through an impersonating proxy),
health checks, denied requests. At a fixed point an intruder with a stolen kubeconfig execs into
a pod, reads secrets in bulk, creates a privileged pod with the host filesystem mounted and binds
cluster-admin to a service account.

Deterministic for a seed: tests and benchmarks rely on the same input every run.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import orjson

K8S: Final = "kubernetes/39683505"
KUBECTL: Final = f"kubectl/v1.30.2 (linux/amd64) {K8S}"
KUBECTL_MAC: Final = "kubectl/v1.29.1 (darwin/arm64) kubernetes/bc401b9"
NODES: Final = ("cp-1", "worker-1", "worker-2")
NODE_IPS: Final = {"cp-1": "10.0.0.10", "worker-1": "10.0.0.11", "worker-2": "10.0.0.12"}
NAMESPACES: Final = ("default", "payments", "web", "monitoring")
APPS: Final = {
    "payments": ("api", "worker", "ledger"),
    "web": ("frontend", "cache"),
    "default": ("hello",),
    "monitoring": ("prometheus",),
}
ATTACKER_IP: Final = "203.0.113.66"
ALLOW_REASON: Final = 'RBAC: allowed by ClusterRoleBinding "{b}" of ClusterRole "{r}" to {k} "{s}"'

Event = dict[str, Any]


class Cluster:
    """Builds events; each method returns the events of one API request."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.pods: dict[str, list[str]] = {
            ns: [f"{app}-{self._suffix()}" for app in apps for _ in range(2)]
            for ns, apps in APPS.items()
        }

    def _suffix(self) -> str:
        return f"{self.rnd.randrange(16**8):08x}"[:5] + "-" + f"{self.rnd.randrange(36**5):x}"[:5]

    def _uid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def event(
        self,
        at: datetime,
        verb: str,
        uri: str,
        user: dict[str, Any],
        ip: str,
        agent: str,
        ref: dict[str, str] | None,
        code: int = 200,
        level: str = "Metadata",
        request: Event | None = None,
        response: Event | None = None,
        decision: str = "allow",
        reason: str = "",
        impersonated: dict[str, Any] | None = None,
        stages: tuple[str, ...] = ("ResponseComplete",),
        latency_ms: int | None = None,
    ) -> list[Event]:
        audit_id = self._uid()
        latency = timedelta(milliseconds=latency_ms or self.rnd.randint(1, 40))
        out = []
        for stage in stages:
            ev: Event = {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": level,
                "auditID": audit_id,
                "stage": stage,
                "requestURI": uri,
                "verb": verb,
                "user": user,
            }
            if impersonated:
                ev["impersonatedUser"] = impersonated
            ev["sourceIPs"] = [ip]
            ev["userAgent"] = agent
            if ref:
                ev["objectRef"] = {"apiVersion": "v1", **ref}
            ev["responseStatus"] = {"metadata": {}, "code": code}
            if code >= 400:
                ev["responseStatus"].update(
                    status="Failure", reason="Forbidden" if code == 403 else "NotFound"
                )
            if request is not None and level in ("Request", "RequestResponse"):
                ev["requestObject"] = request
            if response is not None and level == "RequestResponse" and stage == "ResponseComplete":
                ev["responseObject"] = response
            ev["requestReceivedTimestamp"] = _ts(at)
            ev["stageTimestamp"] = _ts(
                at + (latency if stage == "ResponseComplete" else latency / 4)
            )
            annotations = {"authorization.k8s.io/decision": decision}
            if reason or decision == "allow":
                annotations["authorization.k8s.io/reason"] = reason
            ev["annotations"] = annotations
            out.append(ev)
        return out


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sa(namespace: str, name: str) -> dict[str, Any]:
    return {
        "username": f"system:serviceaccount:{namespace}:{name}",
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{namespace}.{name}")),
        "groups": [
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ],
    }


def _human(name: str, *groups: str) -> dict[str, Any]:
    return {"username": name, "groups": [*groups, "system:authenticated"]}


def _pod_spec(image: str, *, privileged: bool = False, host_path: str | None = None) -> Event:
    container: Event = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    spec: Event = {"containers": [container], "restartPolicy": "Always"}
    if privileged:
        container["securityContext"] = {"privileged": True}
        container["command"] = ["sh", "-c", "sleep infinity"]
    if host_path:
        spec["volumes"] = [{"name": "host", "hostPath": {"path": host_path, "type": "Directory"}}]
        container["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]
    return spec


def generate(minutes: int = 60, seed: int = 42, start: datetime | None = None) -> Iterator[Event]:
    """The events of `minutes` of cluster life, in time order."""
    rnd = random.Random(seed)
    cluster = Cluster(rnd)
    begin = start or datetime(2025, 9, 14, 9, 0, tzinfo=UTC)
    attack_at = begin + timedelta(minutes=minutes * 0.6)
    batch: list[tuple[datetime, int, Event]] = []
    seq = 0
    for second in range(minutes * 60):
        now = begin + timedelta(seconds=second)
        for ev in _background_second(cluster, rnd, now, second):
            seq += 1
            batch.append((_parse_ts(ev["requestReceivedTimestamp"]), seq, ev))
        if begin + timedelta(seconds=second - 1) < attack_at <= now:
            for ev in _attack(cluster, now):
                seq += 1
                batch.append((_parse_ts(ev["requestReceivedTimestamp"]), seq, ev))
        if second % 60 == 59:
            batch.sort(key=lambda item: (item[0], item[1]))
            yield from (ev for _, _, ev in batch)
            batch.clear()
    batch.sort(key=lambda item: (item[0], item[1]))
    yield from (ev for _, _, ev in batch)


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def _jitter(rnd: random.Random, now: datetime) -> datetime:
    return now + timedelta(microseconds=rnd.randrange(1_000_000))


def _background_second(
    cluster: Cluster, rnd: random.Random, now: datetime, second: int
) -> Iterator[Event]:
    ev = cluster.event
    cm = {
        "username": "system:kube-controller-manager",
        "groups": ["system:authenticated"],
    }
    sched = {"username": "system:kube-scheduler", "groups": ["system:authenticated"]}
    cm_agent = f"kube-controller-manager/v1.30.2 (linux/amd64) {K8S}/leader-election"
    sched_agent = f"kube-scheduler/v1.30.2 (linux/amd64) {K8S}/leader-election"
    cp_ip = NODE_IPS["cp-1"]
    lease_reason = ALLOW_REASON.format(
        b="system:kube-controller-manager",
        r="system:kube-controller-manager",
        k="User",
        s="system:kube-controller-manager",
    )
    if second % 2 == 0:  # leader election: a get and an update of the lease every 2 s
        for verb in ("get", "update"):
            yield from ev(
                _jitter(rnd, now),
                verb,
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager",
                cm,
                cp_ip,
                cm_agent,
                {
                    "resource": "leases",
                    "namespace": "kube-system",
                    "name": "kube-controller-manager",
                    "apiGroup": "coordination.k8s.io",
                },
                reason=lease_reason,
            )
        yield from ev(
            _jitter(rnd, now),
            "update",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler",
            sched,
            cp_ip,
            sched_agent,
            {
                "resource": "leases",
                "namespace": "kube-system",
                "name": "kube-scheduler",
                "apiGroup": "coordination.k8s.io",
            },
            reason='RBAC: allowed by ClusterRoleBinding "system:kube-scheduler"',
        )
    for node in NODES:  # kubelets: node lease every 10 s, status every 10 s, pod reads
        kubelet = {
            "username": f"system:node:{node}",
            "groups": ["system:nodes", "system:authenticated"],
        }
        agent = f"kubelet/v1.30.2 (linux/amd64) {K8S}"
        if (second + NODES.index(node) * 3) % 10 == 0:
            yield from ev(
                _jitter(rnd, now),
                "update",
                f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s",
                kubelet,
                NODE_IPS[node],
                agent,
                {
                    "resource": "leases",
                    "namespace": "kube-node-lease",
                    "name": node,
                    "apiGroup": "coordination.k8s.io",
                },
            )
            yield from ev(
                _jitter(rnd, now),
                "patch",
                f"/api/v1/nodes/{node}/status?timeout=10s",
                kubelet,
                NODE_IPS[node],
                agent,
                {"resource": "nodes", "name": node, "subresource": "status"},
                level="RequestResponse" if rnd.random() < 0.1 else "Metadata",
                request={"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                response={"kind": "Node", "apiVersion": "v1", "metadata": {"name": node}},
            )
        if rnd.random() < 0.3:
            ns = rnd.choice(NAMESPACES)
            pod = rnd.choice(cluster.pods[ns])
            yield from ev(
                _jitter(rnd, now),
                "get",
                f"/api/v1/namespaces/{ns}/pods/{pod}",
                kubelet,
                NODE_IPS[node],
                agent,
                {"resource": "pods", "namespace": ns, "name": pod},
            )
    if rnd.random() < 0.5:  # controllers reconciling
        ns = rnd.choice(NAMESPACES)
        controller = rnd.choice(
            (
                "replicaset-controller",
                "endpointslice-controller",
                "deployment-controller",
                "namespace-controller",
            )
        )
        resource = {
            "replicaset-controller": "replicasets",
            "deployment-controller": "deployments",
            "endpointslice-controller": "endpointslices",
            "namespace-controller": "namespaces",
        }[controller]
        group = {
            "replicasets": "apps",
            "deployments": "apps",
            "endpointslices": "discovery.k8s.io",
        }.get(resource, "")
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        uri = (
            f"{prefix}/{resource}"
            if resource == "namespaces"
            else f"{prefix}/namespaces/{ns}/{resource}"
        )
        ref = {"resource": resource}
        if resource != "namespaces":
            ref["namespace"] = ns
        if group:
            ref["apiGroup"] = group
        yield from ev(
            _jitter(rnd, now),
            rnd.choice(("list", "watch", "get")),
            uri,
            _sa("kube-system", controller),
            cp_ip,
            f"kube-controller-manager/v1.30.2 (linux/amd64) {K8S}/system:serviceaccount:"
            f"kube-system:{controller}",
            ref,
            reason=f'RBAC: allowed by ClusterRoleBinding "system:controller:{controller}"',
        )
    if second % 15 == 0:  # health checks by the load balancer, anonymous
        yield from ev(
            _jitter(rnd, now),
            "get",
            "/readyz",
            {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
            "10.0.0.2",
            "kube-probe/1.30",
            None,
            reason='RBAC: allowed by ClusterRoleBinding "system:public-info-viewer"',
        )
    if second % 300 == 120:  # the CI bot rolls out a deployment
        yield from _rollout(cluster, rnd, now)
    if rnd.random() < 0.04:  # alice, a developer, looks around
        yield from _alice(cluster, rnd, now)
    if rnd.random() < 0.01:  # bob, through the SSO impersonation proxy
        ns = rnd.choice(("payments", "web"))
        yield from ev(
            _jitter(rnd, now),
            "list",
            f"/api/v1/namespaces/{ns}/pods?limit=500",
            _sa("pinniped-concierge", "pinniped-concierge-impersonation-proxy"),
            "10.0.0.5",
            KUBECTL_MAC,
            {"resource": "pods", "namespace": ns},
            impersonated={
                "username": "bob@example.com",
                "groups": ["devs", "system:authenticated"],
            },
            level="Request",
            reason='RBAC: allowed by RoleBinding "devs-view" of ClusterRole "view" to Group "devs"',
        )
    if rnd.random() < 0.005:  # a misconfigured job that keeps hitting a forbidden resource
        yield from ev(
            _jitter(rnd, now),
            "list",
            "/api/v1/namespaces/web/secrets",
            _sa("web", "cache-warmer"),
            "10.244.1.17",
            "python-requests/2.31.0",
            {"resource": "secrets", "namespace": "web"},
            code=403,
            decision="forbid",
        )


def _rollout(cluster: Cluster, rnd: random.Random, now: datetime) -> Iterator[Event]:
    ns = rnd.choice(("payments", "web"))
    app = rnd.choice(APPS[ns])
    ci = _sa("ci", "deployer")
    version = f"1.{rnd.randrange(40)}.{rnd.randrange(10)}"
    body = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": app, "namespace": ns},
        "spec": {
            "replicas": 2,
            "template": {"spec": _pod_spec(f"registry.example.com/{app}:{version}")},
        },
    }
    yield from cluster.event(
        _jitter(rnd, now),
        "patch",
        f"/apis/apps/v1/namespaces/{ns}/deployments/{app}"
        "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
        ci,
        "10.0.3.4",
        f"argocd-application-controller/v2.11.0 (linux/amd64) {K8S}",
        {"resource": "deployments", "namespace": ns, "name": app, "apiGroup": "apps"},
        level="RequestResponse",
        request=body,
        response={**body, "status": {"replicas": 2}},
        reason='RBAC: allowed by RoleBinding "ci-deployer" of ClusterRole "edit"',
    )
    rs = _sa("kube-system", "replicaset-controller")
    for _ in range(2):
        pod = f"{app}-{cluster._suffix()}"
        cluster.pods[ns].append(pod)
        spec = _pod_spec(f"registry.example.com/{app}:{version}")
        obj = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": pod, "namespace": ns},
            "spec": spec,
        }
        yield from cluster.event(
            _jitter(rnd, now + timedelta(seconds=1)),
            "create",
            f"/api/v1/namespaces/{ns}/pods",
            rs,
            NODE_IPS["cp-1"],
            f"kube-controller-manager/v1.30.2 (linux/amd64) {K8S}/system:serviceaccount:"
            "kube-system:replicaset-controller",
            {"resource": "pods", "namespace": ns, "name": pod},
            code=201,
            level="RequestResponse",
            request=obj,
            response=obj,
        )
        yield from cluster.event(
            _jitter(rnd, now + timedelta(seconds=2)),
            "create",
            f"/api/v1/namespaces/{ns}/pods/{pod}/binding",
            {"username": "system:kube-scheduler", "groups": ["system:authenticated"]},
            NODE_IPS["cp-1"],
            f"kube-scheduler/v1.30.2 (linux/amd64) {K8S}/scheduler",
            {"resource": "pods", "namespace": ns, "name": pod, "subresource": "binding"},
            code=201,
        )


def _alice(cluster: Cluster, rnd: random.Random, now: datetime) -> Iterator[Event]:
    alice = _human("alice@example.com", "devs")
    ip = "198.51.100.23"
    ns = rnd.choice(("payments", "web"))
    pod = rnd.choice(cluster.pods[ns])
    reason = 'RBAC: allowed by RoleBinding "devs-edit" of ClusterRole "edit" to Group "devs"'
    choice = rnd.random()
    if choice < 0.5:
        yield from cluster.event(
            _jitter(rnd, now),
            "list",
            f"/api/v1/namespaces/{ns}/pods?limit=500",
            alice,
            ip,
            KUBECTL,
            {"resource": "pods", "namespace": ns},
            reason=reason,
        )
    elif choice < 0.8:
        yield from cluster.event(
            _jitter(rnd, now),
            "get",
            f"/api/v1/namespaces/{ns}/pods/{pod}/log?container=app",
            alice,
            ip,
            KUBECTL,
            {"resource": "pods", "namespace": ns, "name": pod, "subresource": "log"},
            reason=reason,
        )
    elif choice < 0.95:
        yield from cluster.event(
            _jitter(rnd, now),
            "create",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            alice,
            ip,
            KUBECTL,
            {"resource": "selfsubjectaccessreviews", "apiGroup": "authorization.k8s.io"},
            code=201,
            reason="",
        )
    else:
        yield from cluster.event(
            _jitter(rnd, now),
            "get",
            f"/api/v1/namespaces/{ns}/secrets/db-password",
            alice,
            ip,
            KUBECTL,
            {"resource": "secrets", "namespace": ns, "name": "db-password"},
            code=403,
            decision="forbid",
        )


def _attack(cluster: Cluster, now: datetime) -> Iterator[Event]:
    """A stolen kubeconfig: recon, exec, secret dump, privileged pod, cluster-admin binding."""
    rnd = cluster.rnd
    user = _human("ci-legacy-admin", "system:masters")
    agent = "kubectl/v1.28.0 (linux/amd64) kubernetes/855e7c4"
    ip = ATTACKER_IP
    reason = 'RBAC: allowed by ClusterRoleBinding "legacy-admin" of ClusterRole "cluster-admin"'
    at = now
    yield from cluster.event(
        at,
        "create",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        user,
        ip,
        agent,
        {"resource": "selfsubjectrulesreviews", "apiGroup": "authorization.k8s.io"},
        code=201,
        reason=reason,
    )
    for resource in ("namespaces", "nodes", "pods", "secrets"):
        at += timedelta(seconds=2)
        yield from cluster.event(
            at,
            "list",
            f"/api/v1/{resource}?limit=500",
            user,
            ip,
            agent,
            {"resource": resource},
            reason=reason,
        )
    pod = cluster.pods["payments"][0]
    for command in (
        ["id"],
        ["sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"],
        ["sh", "-c", "curl -s http://169.254.169.254/latest/meta-data/iam/"],
    ):
        at += timedelta(seconds=5)
        query = "&".join(f"command={quote(arg, safe='')}" for arg in command)
        yield from cluster.event(
            at,
            "create",
            f"/api/v1/namespaces/payments/pods/{pod}/exec?{query}&container=app&stderr=true"
            "&stdout=true",
            user,
            ip,
            agent,
            {"resource": "pods", "namespace": "payments", "name": pod, "subresource": "exec"},
            code=101,
            reason=reason,
            stages=("ResponseStarted", "ResponseComplete"),
            latency_ms=2400,
        )
    for ns in ("payments", "web", "kube-system"):
        for name in ("db-password", "api-token", "tls-cert", "registry-creds")[
            : 2 + rnd.randrange(3)
        ]:
            at += timedelta(milliseconds=300)
            yield from cluster.event(
                at,
                "get",
                f"/api/v1/namespaces/{ns}/secrets/{name}",
                user,
                ip,
                agent,
                {"resource": "secrets", "namespace": ns, "name": name},
                reason=reason,
            )
    at += timedelta(seconds=20)
    obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "node-debugger", "namespace": "kube-system"},
        "spec": {
            **_pod_spec("alpine:3.20", privileged=True, host_path="/"),
            "hostNetwork": True,
            "hostPID": True,
        },
    }
    yield from cluster.event(
        at,
        "create",
        "/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-run",
        user,
        ip,
        agent,
        {"resource": "pods", "namespace": "kube-system", "name": "node-debugger"},
        code=201,
        level="RequestResponse",
        request=obj,
        response=obj,
        reason=reason,
    )
    at += timedelta(seconds=30)
    binding = {
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "backup-operator"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "payments"}],
    }
    yield from cluster.event(
        at,
        "create",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        "?fieldManager=kubectl-create&fieldValidation=Strict",
        user,
        ip,
        agent,
        {
            "resource": "clusterrolebindings",
            "name": "backup-operator",
            "apiGroup": "rbac.authorization.k8s.io",
        },
        code=201,
        level="RequestResponse",
        request=binding,
        response=binding,
        reason=reason,
    )


def lines(minutes: int = 60, seed: int = 42, start: datetime | None = None) -> Iterator[bytes]:
    """The generated events as audit log lines (compact JSON, no newline)."""
    for ev in generate(minutes, seed, start):
        yield orjson.dumps(ev)
