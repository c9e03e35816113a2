# The kubetrail image; the agent DaemonSet runs `kubetrail agent --config /etc/kubetrail/agent.yaml`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubetrail ./kubetrail
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# non-root by default; the agent's manifests run it as root without capabilities only because
# the apiserver's audit log is usually readable by root alone
RUN useradd --system --uid 10001 --no-create-home kubetrail
USER 10001
# two malloc arenas: the agent's reader and shipper threads otherwise each keep freed memory
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2
ENTRYPOINT ["kubetrail"]
CMD ["agent", "--config", "/etc/kubetrail/agent.yaml"]
