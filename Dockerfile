# Satchel's server and mail worker in one image (docs/deployment.md):
#   docker build -t satchel .
#   docker run -p 8470:8470 -e SATCHEL_DATABASE_URL=postgresql+psycopg://… satchel
#   docker run … satchel satchel mail run
FROM python:3.11-slim-bookworm

# pg_dump for `satchel backup` on PostgreSQL.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/satchel --create-home satchel

WORKDIR /opt/satchel
COPY requirements.lock pyproject.toml README.md ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.lock
COPY . .
RUN .venv/bin/pip install --no-cache-dir --no-deps -e . && rm -rf tests bench

ENV PATH=/opt/satchel/.venv/bin:$PATH \
    SATCHEL_DATA_DIR=/var/lib/satchel \
    SATCHEL_HOST=0.0.0.0 \
    SATCHEL_PORT=8470
USER satchel
VOLUME /var/lib/satchel
EXPOSE 8470
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8470/healthz')"
CMD ["satchel", "serve"]
