# Empty compiler generated dependencies file for moek_static.
# This may be replaced when dependencies are built.
