# The worker and the CLI. Configuration from a mounted recon.toml and the environment.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e .
ENV RECON_CONFIG=/config/recon.toml
CMD ["python", "worker.py"]
