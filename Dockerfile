# dreambot on a GPU box: docker build -t dreambot . && docker run --gpus all --env-file .env -v dreambot:/data dreambot
# /data holds config.toml (optional), the SQLite database, job files and the weights cache.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_CACHE_HOME=/data/cache

RUN useradd --create-home --uid 1000 dreambot && mkdir /data && chown dreambot /data

WORKDIR /app
# torch first, pinned with the torchvision that open_clip needs; it is the big layer and changes least.
RUN pip install torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md ./
COPY bot bot
COPY cogs cogs
COPY contract contract
COPY engine engine
RUN pip install .

USER dreambot
WORKDIR /data
VOLUME /data
# SIGTERM (docker stop) closes the bot cleanly; queued jobs wait in /data for the next start.
STOPSIGNAL SIGTERM
CMD ["dreambot", "run"]
