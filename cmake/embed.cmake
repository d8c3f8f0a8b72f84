# Turns the file IN into a C source OUT defining td_openapi_json[] (NUL-terminated)
# and td_openapi_json_len.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from docs/openapi.json by cmake/embed.cmake. */\n"
  "const unsigned char td_openapi_json[] = {${bytes}0x00};\n"
  "const unsigned long td_openapi_json_len = sizeof(td_openapi_json) - 1;\n")
