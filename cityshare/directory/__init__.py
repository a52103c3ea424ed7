"""The shared data resource directory (共享数据资源目录)."""
