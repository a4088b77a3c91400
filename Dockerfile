# The fake, the conformance runner and the u21 command in one small image.
#   docker build -t u21-imports-kit .
#   docker run --rm -p 8021:8021 u21-imports-kit --public-url http://localhost:8021

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin u21-mock --bin u21-conformance --bin u21 \
 && strip target/release/u21-mock target/release/u21-conformance target/release/u21

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home u21
COPY --from=build /src/target/release/u21-mock /src/target/release/u21-conformance /src/target/release/u21 /usr/local/bin/
COPY conformance/adapters /opt/u21/adapters
USER u21
WORKDIR /data
ENV U21_MOCK_LISTEN=0.0.0.0:8021
EXPOSE 8021
HEALTHCHECK --interval=5s --timeout=3s CMD ["u21-mock", "--health-check", "http://127.0.0.1:8021/_mock/health"]
ENTRYPOINT ["u21-mock"]
