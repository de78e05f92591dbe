# Empty dependencies file for moek.
# This may be replaced when dependencies are built.
