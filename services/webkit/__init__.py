"""What the two web services (gateway, board) share: a thread-to-asyncio change signal, a
replaying topic reader, problem+json responses and the uvicorn runner."""
