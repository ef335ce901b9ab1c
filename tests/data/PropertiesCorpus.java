import java.util.*; import java.io.*; import java.nio.file.*;
// Reads hex-encoded inputs, one per line; prints "hex<TAB>result" where the
// result is ERROR or the sorted entries as keyhex:valuehex (UTF-16 units).
// With "--file PATH": loads that file and prints its result alone
// (tests/properties.rs reads a rewritten manager.conf back with it).
public class PropertiesCorpus { public static void main(String[] a) throws Exception {
  if (a[0].equals("--file")) { System.out.println(read(Files.readAllBytes(Paths.get(a[1])))); return; }
  for (String line : Files.readAllLines(Paths.get(a[0]))) {
    byte[] b = new byte[line.length() / 2];
    for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(line.substring(2*i, 2*i+2), 16);
    System.out.println(line + "\t" + read(b));
  } }
  static String read(byte[] b) throws IOException {
    Properties p = new Properties();
    try { p.load(new ByteArrayInputStream(b));
      TreeMap<String,String> m = new TreeMap<>(); for (String k : p.stringPropertyNames()) m.put(k, p.getProperty(k));
      StringBuilder sb = new StringBuilder();
      for (Map.Entry<String,String> e : m.entrySet()) { if (sb.length() > 0) sb.append(','); sb.append(u(e.getKey())).append(':').append(u(e.getValue())); }
      return "OK " + sb;
    } catch (IllegalArgumentException e) { return "ERROR"; }
  }
  static String u(String s) { StringBuilder b = new StringBuilder(); for (char c : s.toCharArray()) b.append(String.format("%04x", (int)c)); return b.toString(); }
}
