# The fake, the conformance runner and the u21 command in one small image.
#   docker build -t u21-imports-kit .
#   docker run --rm -p 8021:8021 u21-imports-kit
# Forms name the host and port the client used (U21_MOCK_PUBLIC_URL=auto), so any port
# mapping works: docker run -p 32768:8021 hands out http://localhost:32768/… upload URLs.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The root manifest is a package too (the cross-crate tests), so the binaries are named
# across the workspace.
RUN cargo build --release --locked --workspace --bin u21-mock --bin u21-conformance --bin u21 \
 && mkdir /out \
 && cp target/release/u21-mock target/release/u21-conformance target/release/u21 /out/ \
 && strip /out/*

FROM debian:bookworm-slim
# python3 (with requests, which most Python clients use), nodejs, curl and jq run the
# conformance kit's adapters: the shipped ones, and a user's own mounted at /adapter.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-requests nodejs curl jq \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --no-create-home u21 \
 && mkdir /data /reports \
 && chown u21 /data /reports
COPY --from=build /out/ /usr/local/bin/
COPY conformance/adapters /opt/u21/adapters
USER u21
WORKDIR /data
ENV U21_MOCK_LISTEN=0.0.0.0:8021
ENV U21_MOCK_PUBLIC_URL=auto
EXPOSE 8021
HEALTHCHECK --interval=5s --timeout=3s CMD ["u21-mock", "--health-check", "http://127.0.0.1:8021/_mock/health"]
ENTRYPOINT ["u21-mock"]
