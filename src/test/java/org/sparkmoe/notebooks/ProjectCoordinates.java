package org.sparkmoe.notebooks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * This project's Maven coordinates, read from pom.xml: the notebooks load spark-moe with them
 * ({@code spark.jars.packages}). JDK only, as {@link ZeppelinNoteParseTest} runs on Zeppelin's classpath.
 */
final class ProjectCoordinates {
    private ProjectCoordinates() {
    }

    /** groupId:artifactId:version of the project (not of its parent or dependencies). */
    static String read() throws IOException {
        String pom = Files.readString(Paths.get("pom.xml"));
        String project = pom.substring(pom.indexOf("</modelVersion>"));
        return tag(project, "groupId") + ":" + tag(project, "artifactId") + ":" + tag(project, "version");
    }

    private static String tag(String xml, String name) throws IOException {
        Matcher m = Pattern.compile("<" + name + ">([^<]+)</" + name + ">").matcher(xml);
        if (!m.find()) throw new IOException("pom.xml: no <" + name + ">");
        return m.group(1).trim();
    }
}
