# CityShare image: the locked environment (uv.lock) with Airflow 3, dbt, GX and the cityshare package.
# One image for every role (Airflow api-server / scheduler / dag-processor / triggerer / Celery worker,
# the portal): the compose file and the Helm values only change the command.
FROM python:3.11-slim-bookworm

# "spark": also Java 17 and the `spark` extra (dbt-spark, pyspark) — for the compose profile spark, whose master and
# workers run pyspark's own daemons from this image, and for the Airflow workers that drive Spark builds (docs/spark.md)
ARG CITYSHARE_EXTRAS=""

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/cityshare/.venv \
    CITYSHARE_HOME=/opt/cityshare \
    CITYSHARE_DATA_DIR=/data \
    AIRFLOW_HOME=/data/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cityshare/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PATH=/opt/cityshare/.venv/bin:$PATH

# libpq for psycopg, tini as PID 1 so signals reach Airflow and Celery (and a JRE for Spark, see CITYSHARE_EXTRAS)
RUN mkdir -p /usr/share/man/man1 && apt-get update && apt-get install -y --no-install-recommends libpq5 tini \
        $([ "$CITYSHARE_EXTRAS" = spark ] && echo openjdk-17-jre-headless) \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv \
    && useradd --uid 50000 --gid 0 --home-dir /home/cityshare --create-home cityshare

WORKDIR /opt/cityshare
# dependencies first (cached layer), then the project itself
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project ${CITYSHARE_EXTRAS:+--extra $CITYSHARE_EXTRAS}
COPY . .
RUN uv sync --frozen --no-dev ${CITYSHARE_EXTRAS:+--extra $CITYSHARE_EXTRAS} \
    && mkdir -p /data && chown -R 50000:0 /data /opt/cityshare/dbt_project \
    && chmod -R g+w /data /opt/cityshare/dbt_project

# uid 50000 / gid 0: the convention of the official Airflow image and its Helm chart
USER 50000
VOLUME ["/data"]
EXPOSE 8000 8080
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["cityshare", "--help"]
