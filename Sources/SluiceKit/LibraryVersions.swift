import CBzip2
import CISAL
import CLzma
import CPCRE2
import CSQLite
import CZlib
import CZstd

/// The versions of the C libraries sluice is linked with, as they report themselves at run
/// time (ISA-L has no such call: its headers' version, from the build).
public enum LibraryVersions {
    public static var all: [(name: String, version: String)] {
        var pcre2 = [UInt8](repeating: 0, count: 64)
        let written = pcre2.withUnsafeMutableBytes { pcre2_config_8(UInt32(PCRE2_CONFIG_VERSION), $0.baseAddress) }
        let pcre2Version = written > 0 ? String(decoding: pcre2.prefix { $0 != 0 }, as: UTF8.self) : "unknown"
        return [
            ("PCRE2", pcre2Version),
            ("ISA-L", "\(ISAL_MAJOR_VERSION).\(ISAL_MINOR_VERSION).\(ISAL_PATCH_VERSION) (headers)"),
            ("zlib", String(cString: zlibVersion())),
            ("liblzma", String(cString: lzma_version_string())),
            ("libbz2", String(cString: BZ2_bzlibVersion())),
            ("libzstd", String(cString: ZSTD_versionString())),
            ("SQLite", String(cString: sqlite3_libversion())),
        ]
    }
}
