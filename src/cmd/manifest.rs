//! `meshroll manifest DIR`: the two ids of a skills folder.

use crate::cli::ManifestArgs;
use crate::manifest;

pub fn run(a: &ManifestArgs) -> anyhow::Result<i32> {
    let b = manifest::build(&a.dir, a.content_id)?;
    println!("SKILLS_SHA={}", b.skills_sha);
    println!("SKILLS_MANIFEST_SHA256={}", b.manifest_sha256);
    if let Some(p) = &a.write_lock {
        std::fs::write(p, &b.lock_bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        eprintln!("wrote {} ({} files)", p.display(), b.lock.files.len());
    }
    Ok(0)
}
