FROM golang:1.24-alpine AS builder

WORKDIR /app
COPY src/ .
RUN go build -o app .

FROM alpine:latest
WORKDIR /app
COPY --from=builder /app/app /app/

EXPOSE 8080
CMD ["/app/app"]
