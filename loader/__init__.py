"""What a GPU trainer imports: the shard format (Megatron MMIDIDX) and readers over it."""
