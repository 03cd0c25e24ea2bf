# syntax=docker/dockerfile:1
# s3meta's image: the worker, the bridge, Flower and the one-shot commands all run from it.
# docker-compose.yml builds it; on EC2 the same image, or the systemd units in deploy/, run it.
#
#   build   a virtualenv with s3meta and its dependencies (wheels only: pycurl's bundles libcurl)
#   app     the final image: that virtualenv, no compiler, no pip cache, a non-root user
#   moto    the local AWS stand-in for docker-compose (S3, SQS, SNS, Secrets Manager, CloudWatch)

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ONLY_BINARY=:all:
RUN python -m venv /opt/s3meta
WORKDIR /src
COPY pyproject.toml README.md ./
COPY s3meta ./s3meta
COPY tasks ./tasks
COPY db ./db
# setuptools builds s3meta itself (pure Python); every dependency must come as a wheel.
RUN /opt/s3meta/bin/pip install --no-binary s3meta '.[flower]' \
    && /opt/s3meta/bin/pip uninstall --yes pip setuptools

FROM python:${PYTHON_VERSION}-slim AS app
RUN groupadd --system s3meta && useradd --system --gid s3meta --home-dir /app s3meta
COPY --from=build /opt/s3meta /opt/s3meta
# The CA bundle of RDS, for TLS to the database: ?ssl_ca=/etc/ssl/certs/rds-global-bundle.pem
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
WORKDIR /app
# Alembic reads it from the working directory.
COPY alembic.ini ./
COPY alembic ./alembic
ENV PATH=/opt/s3meta/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    S3META_LOG_FORMAT=json \
    S3META_HEALTH_FILE=/tmp/s3meta.alive
USER s3meta
# A worker with nothing to say; docker-compose.yml and `docker run ... CMD` choose the role.
CMD ["celery", "-A", "tasks", "worker", "--loglevel", "INFO"]

FROM python:${PYTHON_VERSION}-slim AS moto
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install 'moto[server,s3,sqs,sns]>=5.1,<6' \
    && useradd --system --no-create-home moto
# moto's server with its SQS queues made safe for concurrent clients (it imports moto only).
COPY s3meta/moto_server.py /opt/moto_server.py
USER moto
EXPOSE 5000
CMD ["python", "/opt/moto_server.py", "--host", "0.0.0.0", "--port", "5000"]
