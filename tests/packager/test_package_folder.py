"""Reading a package folder, as serving and publishing both do: its files, the GGUF its FROM names, the adapter,
the Modelfile's values, and bad folders refused with what was wrong, the file and line, and what to do."""

from __future__ import annotations

import pytest

from tests.fixtures.package_folder import CHATML, write_adapter_package, write_package
from tunesmith.errors import ModelfileError, PackageError
from tunesmith.packager.package_folder import read_package_folder


def test_read_package_lists_release_files_and_reads_modelfile_values(tmp_path):
    folder = write_package(tmp_path / "package")
    (folder / ".Modelfile.x.partial").write_text("half written")
    package = read_package_folder(folder)
    assert [path.name for path in package.files] == [
        "Modelfile",
        "README.md",
        "demo-Q4_K_M.gguf",
        "demo-Q8_0.gguf",
        "quality.json",
    ]
    assert package.gguf == (folder / "demo-Q4_K_M.gguf").resolve()
    assert package.adapter is None
    assert package.modelfile.template == CHATML
    assert package.modelfile.system == "You answer in one sentence."
    assert package.modelfile.parameters == {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 2048}
    assert package.modelfile.messages == [("user", "Who are you?"), ("assistant", "A small model.")]
    assert package.modelfile.license == ["Apache License 2.0"]
    assert package.name == "demo"  # from the GGUF's name, whatever the folder is called


def test_an_adapter_package_is_named_without_its_base_suffix(tmp_path):
    package = read_package_folder(write_adapter_package(tmp_path / "pkg"))
    assert (package.name, package.gguf.name, package.adapter.name) == (
        "demo",
        "demo-base-Q4_K_M.gguf",
        "demo-adapter-F16.gguf",
    )


# (case, the Modelfile written (None: the package's own), error class, words the message holds)
BAD_FOLDERS = [
    ("missing folder", None, PackageError, ["the package folder does not exist", "tunesmith package --out"]),
    ("no Modelfile", None, PackageError, ["has no Modelfile"]),
    ("FROM a registry model", "FROM llama3.2\n", PackageError, ["Modelfile:1", "a model name, not a .gguf file"]),
    ("FROM not a GGUF file name", "FROM ./model.bin\n", PackageError, ["Modelfile:1", "not a .gguf file"]),
    ("FROM a missing file", "FROM ./gone.gguf\n", PackageError, ["Modelfile:1", "'./gone.gguf', which does not"]),
    ("FROM outside the folder", "FROM ../other.gguf\n", PackageError, ["outside the package folder"]),
    ("FROM an absolute path outside", "FROM {outside}\n", PackageError, ["outside the package folder"]),
    ("not a GGUF", "FROM ./fake-Q4_K_M.gguf\n", PackageError, ["fake-Q4_K_M.gguf is not a GGUF file"]),
    (
        "a missing adapter",
        "FROM ./demo-Q4_K_M.gguf\n\nADAPTER ./gone-adapter-F16.gguf\n",
        PackageError,
        ["Modelfile:3", "ADAPTER names './gone-adapter-F16.gguf', which does not exist", "--as-adapter"],
    ),
    (
        "an adapter folder",
        "FROM ./demo-Q4_K_M.gguf\nADAPTER ./adapter\n",
        PackageError,
        ["Modelfile:2", "not a .gguf file", "--as-adapter", "--ollama"],
    ),
    (
        "bad Modelfile",
        "FROM ./demo-Q4_K_M.gguf\nPARAMETER temprature 0.3\n",
        ModelfileError,
        ["PARAMETER temprature is not a parameter Ollama knows"],
    ),
    ("not UTF-8", b"FROM ./demo-Q4_K_M.gguf\nSYSTEM \xff\n", ModelfileError, ["not UTF-8 text"]),
]


@pytest.mark.parametrize(
    ("modelfile", "error", "words"), [case[1:] for case in BAD_FOLDERS], ids=[case[0] for case in BAD_FOLDERS]
)
def test_bad_package_folders_are_refused_saying_what_and_where(tmp_path, modelfile, error, words):
    folder = tmp_path / "pkg"
    outside = tmp_path / "other.gguf"
    outside.write_bytes(b"GGUF....")
    if words[0] != "the package folder does not exist":
        write_package(folder)
        (folder / "fake-Q4_K_M.gguf").write_bytes(b"PK\x03\x04 a zip")
    if "has no Modelfile" in words:
        (folder / "Modelfile").unlink()
    elif isinstance(modelfile, bytes):
        (folder / "Modelfile").write_bytes(modelfile)
    elif modelfile is not None:
        (folder / "Modelfile").write_text(modelfile.format(outside=outside))
    with pytest.raises(error) as caught:
        read_package_folder(folder)
    message = str(caught.value)
    assert str(folder) in message
    for word in words:
        assert word in message
