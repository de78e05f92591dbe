file(REMOVE_RECURSE
  "libmoek.a"
)
