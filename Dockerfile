# One container: the whole platform in one process, data in a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IAQ_HOST=0.0.0.0 \
    IAQ_PORT=8080 \
    IAQ_DATA_DIR=/data

WORKDIR /opt/iaqverse

# dependencies first, so code changes do not reinstall them
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY pages ./pages
COPY components ./components
COPY services ./services
RUN pip install -c constraints.txt .

COPY migrations ./migrations
COPY alembic.ini ./
COPY static ./static
COPY assets ./assets
COPY locales ./locales

RUN useradd --system --uid 10001 --home-dir /data iaq \
    && mkdir -p /data && chown iaq /data
USER iaq
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status == 200 else 1)"

# the same start command as `make run`
CMD ["python", "-m", "app"]
