# Production image: the same install steps as the README, as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

RUN useradd --create-home --uid 10001 bot
WORKDIR /app

COPY pyproject.toml requirements.lock README.md alembic.ini babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY locales ./locales
COPY migrations ./migrations
# The runtime dependencies only, at the versions of requirements.lock.
# The typed questions' sentence vectors are computed here once, not at every start.
RUN pip install -c requirements.lock -e . \
    && python -m babel.messages.frontend compile -D bot -d locales \
    && python -c "from bot.core.i18n import compile_catalogs; compile_catalogs()" \
    && python -c "from bot.content import load_content; from bot.services.knowledge import KnowledgeBase; KnowledgeBase.build(load_content(), meaning=True)" \
    && mkdir -p /app/data && chown -R bot:bot /app/data /app/locales

USER bot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "bot", "run"]
