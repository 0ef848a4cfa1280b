# Multi-stage build: a static binary on a distroless base, running as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/casework ./cmd/casework

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/casework /casework
USER nonroot:nonroot
ENV CASEWORK_LISTEN_ADDR=0.0.0.0:8080 \
    CASEWORK_DATA_DIR=/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["/casework", "healthcheck"]
ENTRYPOINT ["/casework"]
CMD ["serve"]
