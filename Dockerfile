# digitserve: the MNIST classifier under Gunicorn, as one container.
#
# Build and run:  docker build -t digitserve . && docker run --read-only --tmpfs /tmp -p 8000:8000 digitserve
# What this file sets up (non-root user, read-only code and model, nothing written outside /tmp,
# no HOME) is tested without a container engine by tests/integration/test_container.py, which
# reads the ENV, USER, WORKDIR, COPY and CMD lines below. deploy/README.md has the details.
FROM python:3.11-slim-bookworm

# The project's one version (pyproject.toml's [project] version; tests/test_deploy.py checks).
LABEL org.opencontainers.image.title="digitserve" \
      org.opencontainers.image.version="0.2.0"

# Bytecode is compiled at build time (the code is read-only at run time), logs are unbuffered,
# and pip keeps no cache in the image.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Only the serving dependencies, exactly as pinned in pyproject.toml's [project] dependencies:
# no test, perf, dev or training extras (no torch).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code and the model, owned by root and read-only for the user that runs them.
COPY wsgi.py gunicorn.conf.py model.onnx ./
COPY app/ app/
# The model is checked as the server checks it at start (loads, interface, known digits): an
# image with a bad model fails here, not in a rollout.
RUN python -m app.server.checkmodel model.onnx \
    && python -m compileall -q /app \
    && groupadd --system --gid 10001 digitserve \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin digitserve

# Everything the server writes goes under /tmp (with the checked copy of the model the workers
# load): mount a small tmpfs there (Kubernetes: an emptyDir with medium Memory) and run with a
# read-only root filesystem. Gunicorn's worker
# heartbeat files are in /dev/shm (gunicorn.conf.py).
#  - GUNICORN_BIND: listen on every interface of the container.
#  - GUNICORN_CONTROL_SOCKET: gunicornc's socket; its default is under HOME, which is not there.
#  - PROMETHEUS_MULTIPROC_DIR: the workers' metric files, emptied at each start.
#  - DIGITSERVE_DRAIN_FILE: /readyz answers 503 while it exists (the preStop hook creates it).
#  - ORT_DISABLE_TELEMETRY: onnxruntime's telemetry would otherwise create
#    $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/ (a device id and an event database)
#    and try to upload events.
ENV GUNICORN_BIND=0.0.0.0:8000 \
    GUNICORN_CONTROL_SOCKET=/tmp/gunicorn.ctl \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics \
    DIGITSERVE_DRAIN_FILE=/tmp/drain \
    ORT_DISABLE_TELEMETRY=1

# A numeric user, so Kubernetes' runAsNonRoot can check it is not root.
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "wsgi:app"]
